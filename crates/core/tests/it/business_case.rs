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

#[test]
fn whole_cases_match_numpy_financial_and_brentq() {
    let g = golden();
    let cases = g["whole"].as_array().unwrap();
    assert!(cases.len() >= 2);
    for c in cases {
        let inputs: business_case::CaseInputs = serde_json::from_value(c["input"].clone()).unwrap();
        inputs.check().unwrap();
        let f = business_case::evaluate(&inputs).unwrap();
        close("npv", f.npv.value, &c["npv"]);
        close("case npv", Some(f.base.npv), &c["npv"]);
        let pv_costs = c["pv_costs"].as_f64().unwrap();
        let pv_benefits = c["pv_benefits"].as_f64().unwrap();
        close(
            "roi",
            f.roi.value,
            &Value::from((pv_benefits - pv_costs) / pv_costs),
        );
        close("payback", f.payback_years.value, &c["payback_years"]);
        close(
            "discounted payback",
            f.discounted_payback_years.value,
            &c["discounted_payback_years"],
        );
        close("low scenario", Some(f.low.npv), &c["low_npv"]);
        close("high scenario", Some(f.high.npv), &c["high_npv"]);
        for want in c["tornado"].as_array().unwrap() {
            let bar = f
                .tornado
                .iter()
                .find(|b| b.key == want["key"].as_str().unwrap())
                .unwrap();
            close("tornado low", Some(bar.npv_at_low), &want["npv_at_low"]);
            close("tornado high", Some(bar.npv_at_high), &want["npv_at_high"]);
        }
        let swings: Vec<f64> = f.tornado.iter().map(|b| b.swing).collect();
        assert!(swings.windows(2).all(|w| w[0] >= w[1]), "widest bar first");
        close(
            "break-even",
            f.break_even.as_ref().and_then(|b| b.value),
            &c["break_even"],
        );
        assert!(f.low.npv <= f.base.npv && f.base.npv <= f.high.npv);
    }
}

#[test]
fn case_inputs_name_each_bad_field() {
    let text = r#"{"name": "", "discount_rate": 1.5,
        "cash_flows": [{"year": 0, "cost": -5}, {"year": 0}],
        "assumptions": [
            {"key": "Bad Key", "name": "x", "value": 5, "low": 6, "high": 7,
             "source": {"kind": "estimate", "owner": "me"}, "as_of": "yesterday"}
        ],
        "lines": [{"name": "l", "kind": "benefit", "factors": ["nope"]}],
        "effect": "missing"}"#;
    let inputs: business_case::CaseInputs = serde_json::from_str(text).unwrap();
    // Counts and the rate are checked before the entries.
    let errors = inputs.check().unwrap_err();
    assert!(
        errors.iter().any(|e| e.field == "discount_rate"),
        "{errors:?}"
    );
    let mut inputs = inputs;
    inputs.discount_rate = 0.08;
    let fields: Vec<String> = inputs
        .check()
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect();
    for want in [
        "name",
        "cash_flows[0].cost",
        "cash_flows[1].year",
        "assumptions[0].key",
        "assumptions[0].low",
        "assumptions[0].as_of",
        "lines[0].factors[0]",
        "effect",
    ] {
        assert!(fields.iter().any(|f| f == want), "{want} in {fields:?}");
    }
}
