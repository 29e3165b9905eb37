//! Pilot/control assignment against the independent Python
//! reimplementation of its documented algorithm
//! (`tools/golden/make_golden_assignment.py` → `assignment.json`), and its
//! promises: deterministic, proportional per stratum, order-free.

use std::collections::BTreeMap;

use northstar_core::assignment::{self, AssignmentError, Group, SplitMix64};
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/golden/assignment.json"
    );
    let text = std::fs::read_to_string(path).expect("tools/golden/assignment.json is committed");
    serde_json::from_str(&text).expect("valid JSON")
}

fn customers(g: &Value) -> Vec<(String, String)> {
    g["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_owned(),
                r[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn matches_the_python_reimplementation() {
    let g = golden();
    let list = customers(&g);
    let mut r = SplitMix64::new(1234567);
    for want in g["splitmix64_seed_1234567"].as_array().unwrap() {
        assert_eq!(r.next_u64().to_string(), want.as_str().unwrap());
    }
    for case in g["below_seed_5"].as_array().unwrap() {
        let s: u64 = case["s"].as_str().unwrap().parse().unwrap();
        let mut r = SplitMix64::new(5);
        for want in case["draws"].as_array().unwrap() {
            assert_eq!(r.below(s).to_string(), want.as_str().unwrap(), "s = {s}");
        }
    }
    for (s, want) in g["fnv1a64"].as_object().unwrap() {
        assert_eq!(
            assignment::fnv1a64(s.as_bytes()).to_string(),
            want.as_str().unwrap()
        );
    }
    let cases = g["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let seed: u64 = case["seed"].as_str().unwrap().parse().unwrap();
        let got = assignment::assign(
            &list,
            case["share"].as_f64().unwrap(),
            seed,
            case["stratified"].as_bool().unwrap(),
        )
        .unwrap();
        let got: Value = serde_json::to_value(&got).unwrap();
        assert_eq!(got, case["assignment"], "{}", case["seed"]);
    }
}

fn many() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (s, n) in [("a", 100), ("b", 37), ("c", 250), ("d", 1)] {
        for i in 0..n {
            v.push((format!("{s}{i:04}"), s.to_owned()));
        }
    }
    v
}

#[test]
fn same_seed_same_split_other_seed_other_split() {
    let list = many();
    let a = assignment::assign(&list, 0.4, 11, true).unwrap();
    assert_eq!(a, assignment::assign(&list, 0.4, 11, true).unwrap());
    assert_ne!(a, assignment::assign(&list, 0.4, 12, true).unwrap());
    assert_eq!(a.len(), list.len());
}

#[test]
fn input_order_does_not_matter() {
    let list = many();
    let mut shuffled = list.clone();
    shuffled.reverse();
    shuffled.rotate_left(17);
    for stratified in [true, false] {
        assert_eq!(
            assignment::assign(&list, 0.3, 5, stratified).unwrap(),
            assignment::assign(&shuffled, 0.3, 5, stratified).unwrap()
        );
    }
}

#[test]
fn each_stratum_gets_its_share() {
    let list = many();
    let got = assignment::assign(&list, 0.3, 99, true).unwrap();
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (_, g, s) in &got {
        let e = counts.entry(s.as_str()).or_default();
        e.1 += 1;
        if *g == Group::Pilot {
            e.0 += 1;
        }
    }
    for (s, (pilots, n)) in counts {
        assert_eq!(pilots, (0.3 * n as f64 + 0.5).floor() as usize, "{s}");
    }
    // Unstratified, only the total is exact.
    let all = assignment::assign(&list, 0.3, 99, false).unwrap();
    let pilots = all.iter().filter(|r| r.1 == Group::Pilot).count();
    assert_eq!(pilots, (0.3 * list.len() as f64 + 0.5).floor() as usize);
}

#[test]
fn adding_a_stratum_leaves_the_others_alone() {
    let list = many();
    let before = assignment::assign(&list, 0.5, 3, true).unwrap();
    let mut more = list.clone();
    more.extend((0..20).map(|i| (format!("e{i}"), "e".to_owned())));
    let after = assignment::assign(&more, 0.5, 3, true).unwrap();
    let old: Vec<_> = after.iter().filter(|r| r.2 != "e").cloned().collect();
    assert_eq!(before, old);
}

#[test]
fn bad_inputs_say_why() {
    let list = many();
    for share in [0.0, 1.0, -0.1, f64::NAN] {
        assert!(matches!(
            assignment::assign(&list, share, 1, true),
            Err(AssignmentError::Share(_))
        ));
    }
    let mut dup = list.clone();
    dup.push(("b0003".to_owned(), "z".to_owned()));
    assert_eq!(
        assignment::assign(&dup, 0.5, 1, true),
        Err(AssignmentError::Duplicate("b0003".to_owned()))
    );
    assert_eq!(assignment::assign(&[], 0.5, 1, true), Ok(vec![]));
    assert_eq!(serde_json::to_value(Group::Pilot).unwrap(), "pilot");
    assert_eq!(Group::Control.to_string(), "control");
}
