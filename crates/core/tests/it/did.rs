//! Difference-in-differences against statsmodels OLS with cluster-robust
//! (CR1) and HC1 errors: golden file `tools/golden/did.json` from
//! `tools/golden/make_golden_did.py`.

use northstar_core::did::{self, DidError, DidMethod, DidObservation};
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/golden/did.json");
    let text = std::fs::read_to_string(path).expect("tools/golden/did.json is committed");
    serde_json::from_str(&text).expect("valid JSON")
}

fn observations(v: &Value) -> Vec<DidObservation> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| DidObservation {
            cluster: r[0].as_u64().unwrap() as u32,
            pilot: r[1].as_u64().unwrap() == 1,
            after: r[2].as_u64().unwrap() == 1,
            y: r[3].as_f64().unwrap(),
        })
        .collect()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// Relative to the standard error, the scale every figure here is read on
/// (the effect and interval bounds can be near 0).
fn close(what: &str, got: f64, want: f64, scale: f64) {
    assert!(
        (got - want).abs() <= 1e-9 * scale.max(want.abs()),
        "{what}: {got} vs {want}"
    );
}

#[test]
fn effects_and_errors_match_statsmodels() {
    let g = golden();
    let datasets = g["datasets"].as_array().unwrap();
    assert!(datasets.len() >= 4);
    let mut methods = Vec::new();
    for ds in datasets {
        let name = ds["name"].as_str().unwrap();
        let obs = observations(&ds["observations"]);
        for fit in ds["fits"].as_array().unwrap() {
            let confidence = num(fit, "confidence");
            let got = did::estimate(&obs, confidence).unwrap();
            let what = |k: &str| format!("{name} at {confidence}: {k}");
            let se = num(fit, "se");
            close(&what("effect"), got.effect, num(fit, "effect"), se);
            close(&what("se"), got.se, se, se);
            close(&what("ci_low"), got.ci_low, num(fit, "ci_low"), se);
            close(&what("ci_high"), got.ci_high, num(fit, "ci_high"), se);
            close(&what("z"), got.z, num(fit, "z"), 1.0);
            close(&what("p"), got.p_value, num(fit, "p_value"), 1e-3);
            let method = serde_json::to_value(got.method).unwrap();
            assert_eq!(method, fit["method"], "{}", what("method"));
            methods.push(got.method);
            assert_eq!(got.clusters as u64, fit["clusters"].as_u64().unwrap());
            let cells = serde_json::to_value(got.cells).unwrap();
            for (cell, want) in fit["cells"].as_object().unwrap() {
                assert_eq!(cells[cell]["n"], want["n"], "{}", what(cell));
                assert_eq!(
                    cells[cell]["customers"],
                    want["customers"],
                    "{}",
                    what(cell)
                );
                close(
                    &what(cell),
                    cells[cell]["mean"].as_f64().unwrap(),
                    num(want, "mean"),
                    1.0,
                );
            }
            assert_eq!(
                did::responses_to_settle(&got, confidence),
                fit["responses_to_settle"].as_u64(),
                "{}",
                what("responses_to_settle")
            );
        }
    }
    assert!(methods.contains(&DidMethod::ClusteredByCustomer));
    assert!(methods.contains(&DidMethod::Hc1));
}

#[test]
fn the_effect_is_the_difference_of_the_cell_differences() {
    let g = golden();
    for ds in g["datasets"].as_array().unwrap() {
        let got = did::estimate(&observations(&ds["observations"]), 0.95).unwrap();
        let c = &got.cells;
        let dd = (c.pilot_after.mean - c.pilot_before.mean)
            - (c.control_after.mean - c.control_before.mean);
        assert!((got.effect - dd).abs() < 1e-9 * dd.abs().max(1.0));
    }
}

#[test]
fn input_order_does_not_matter() {
    let g = golden();
    let mut obs = observations(&g["datasets"][0]["observations"]);
    let a = did::estimate(&obs, 0.95).unwrap();
    obs.reverse();
    let b = did::estimate(&obs, 0.95).unwrap();
    assert!((a.effect - b.effect).abs() < 1e-9);
    assert!((a.se - b.se).abs() < 1e-9 * a.se);
}

fn obs(cluster: u32, pilot: bool, after: bool, y: f64) -> DidObservation {
    DidObservation {
        cluster,
        pilot,
        after,
        y,
    }
}

#[test]
fn unusable_data_says_why() {
    let full = vec![
        obs(1, true, false, 1.0),
        obs(1, true, true, 0.0),
        obs(2, false, false, 1.0),
        obs(2, false, true, 1.0),
        obs(3, false, true, 0.0),
        obs(4, true, true, 1.0),
    ];
    assert!(did::estimate(&full, 0.95).is_ok());
    let without = |p: bool, a: bool| -> Vec<DidObservation> {
        full.iter()
            .copied()
            .filter(|o| !(o.pilot == p && o.after == a))
            .collect()
    };
    assert_eq!(
        did::estimate(&without(true, false), 0.95),
        Err(DidError::EmptyCell("pilot_before"))
    );
    assert_eq!(
        did::estimate(&without(false, true), 0.95),
        Err(DidError::EmptyCell("control_after"))
    );
    let mut nan = full.clone();
    nan[3].y = f64::NAN;
    assert_eq!(did::estimate(&nan, 0.95), Err(DidError::NotFinite(3)));
    assert_eq!(did::estimate(&full, 1.0), Err(DidError::Confidence(1.0)));
    // One customer in every cell: no second cluster to compare with.
    let one: Vec<_> = full.iter().map(|o| obs(9, o.pilot, o.after, o.y)).collect();
    assert_eq!(did::estimate(&one, 0.95), Err(DidError::TooFewClusters(1)));
    let four = vec![
        obs(1, true, false, 1.0),
        obs(2, true, true, 0.0),
        obs(3, false, false, 1.0),
        obs(4, false, true, 1.0),
    ];
    assert_eq!(
        did::estimate(&four, 0.95),
        Err(DidError::TooFewObservations(4))
    );
    let flat: Vec<_> = full
        .iter()
        .map(|o| obs(o.cluster, o.pilot, o.after, 1.0))
        .collect();
    assert_eq!(did::estimate(&flat, 0.95), Err(DidError::NoVariation));
}

#[test]
fn settling_needs_more_answers_only_while_zero_is_inside() {
    let g = golden();
    let obs = observations(&g["datasets"][0]["observations"]);
    let mut e = did::estimate(&obs, 0.95).unwrap();
    let more = did::responses_to_settle(&e, 0.95).unwrap();
    // Scaling the error as 1/√N to N + more puts zero just outside.
    let n = e.cells.n() as f64;
    let z = 1.959963984540054;
    let se_then = e.se * (n / (n + more as f64)).sqrt();
    assert!(e.effect.abs() > z * se_then);
    let se_one_less = e.se * (n / (n + more as f64 - 1.0)).sqrt();
    assert!(e.effect.abs() <= z * se_one_less);
    e.effect = 0.0;
    assert_eq!(did::responses_to_settle(&e, 0.95), None);
    e.effect = 10.0 * e.se;
    assert_eq!(did::responses_to_settle(&e, 0.95), None);
    assert_eq!(did::responses_to_settle(&e, 2.0), None);
}

#[test]
fn serialises_snake_case() {
    let g = golden();
    let e = did::estimate(&observations(&g["datasets"][1]["observations"]), 0.95).unwrap();
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["method"], "hc1");
    assert!(v["cells"]["control_after"]["customers"].is_u64());
    assert!(e.reference().contains("MacKinnon & White 1985"));
    assert!(
        DidMethod::ClusteredByCustomer
            .reference()
            .contains("Cameron & Miller 2015")
    );
}
