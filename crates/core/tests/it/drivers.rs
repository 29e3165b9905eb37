//! Key drivers (core::drivers): the moment summary's algebra, Johnson's
//! relative weights and the bootstrap interval against
//! tools/golden/drivers.json (statsmodels R², the relativeImp package's
//! weights, scipy.stats.wishart bootstrap), and the interval's coverage by
//! simulation from discrete rating data.

use nalgebra::DMatrix;
use northstar_core::Mergeable;
use northstar_core::drivers::{
    self, BootstrapOptions, DEFAULT_SEED, DriverError, KeyDrivers, MomentSummary, Quadrant,
};
use proptest::prelude::*;
use serde_json::Value;

/// Point values (R², weights, correlations, means) must match to this.
const POINT_TOLERANCE: f64 = 1e-9;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/golden/drivers.json"
    );
    let text = std::fs::read_to_string(path).expect("tools/golden/drivers.json is committed");
    serde_json::from_str(&text).expect("drivers.json parses")
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in case"))
}

fn summary_of(rows: &[Vec<f64>]) -> MomentSummary {
    let mut s = MomentSummary::empty();
    for row in rows {
        s.add(row).unwrap();
    }
    s
}

fn rows_of(case: &Value) -> Vec<Vec<f64>> {
    case["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn names_of(case: &Value) -> Vec<String> {
    case["drivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn quadrant_name(q: Quadrant) -> String {
    serde_json::to_value(q)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

fn close(what: &str, case: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{case}: {what}: got {got}, want {want} (tolerance {tolerance:e})"
    );
}

/// Checks one bootstrap bound against scipy's: two Monte Carlo estimates of
/// the same percentile, each with B = 20,000, differ by about √2 × the
/// reference's Monte Carlo standard error (estimated in the script by
/// resampling the replicates); `factor` (5√2, in the JSON) allows 5 standard
/// errors of that difference.
fn bound_close(what: &str, case: &str, got: f64, reference: &Value, key: &str, factor: f64) {
    let want = num(reference, key);
    let se = num(reference, &format!("{key}_mc_se"));
    // Shown with --nocapture: the difference in standard errors of itself.
    eprintln!(
        "{case} {what}: {got:.6} vs {want:.6}, z = {:.2}",
        (got - want) / (std::f64::consts::SQRT_2 * se)
    );
    close(what, case, got, want, factor * se + 1e-9);
}

#[test]
fn key_drivers_match_the_golden_cases() {
    let g = golden();
    let replicates = g["bootstrap_replicates"].as_u64().unwrap() as usize;
    let factor = num(&g, "mc_tolerance_factor");
    let cases = g["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let rows = rows_of(case);
        let names = names_of(case);
        let summary = summary_of(&rows);
        let options = BootstrapOptions {
            replicates,
            seed: DEFAULT_SEED,
        };
        let result = drivers::key_drivers(&summary, &names, &options);
        if let Some(error) = case["error"].as_str() {
            let expected = match error {
                "zero_variance_outcome" => DriverError::ZeroVariance { index: 0 },
                "too_few_rows" => DriverError::TooFewRows {
                    n: rows.len() as i64,
                    needed: names.len() as i64 + 3,
                },
                "no_varying_driver" => DriverError::NoVaryingDriver,
                other => panic!("unknown error {other}"),
            };
            assert_eq!(result, Err(expected), "{name}");
            continue;
        }
        let result = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        check_case(case, name, &summary, &result, factor);
    }
}

fn check_case(case: &Value, name: &str, summary: &MomentSummary, result: &KeyDrivers, factor: f64) {
    assert_eq!(result.n, case["n"].as_i64().unwrap(), "{name}");
    close("r2", name, result.r2, num(case, "r2"), POINT_TOLERANCE);
    let constant: Vec<&str> = case["constant_drivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(result.constant_drivers, constant, "{name}");

    // The correlation matrix of the analysed variables (outcome + varying drivers).
    let all = names_of(case);
    let kept: Vec<usize> = std::iter::once(0)
        .chain(
            all.iter()
                .enumerate()
                .filter(|(_, n)| !constant.contains(&n.as_str()))
                .map(|(j, _)| j + 1),
        )
        .collect();
    let correlation = summary.project(&kept).unwrap().correlation().unwrap();
    for (i, row) in case["correlation"].as_array().unwrap().iter().enumerate() {
        for (j, want) in row.as_array().unwrap().iter().enumerate() {
            close(
                "correlation",
                name,
                correlation[(i, j)],
                want.as_f64().unwrap(),
                POINT_TOLERANCE,
            );
        }
    }

    let weights = case["weights"].as_array().unwrap();
    assert_eq!(result.drivers.len(), weights.len(), "{name}");
    for pair in result.drivers.windows(2) {
        assert!(pair[0].raw_weight >= pair[1].raw_weight, "{name}: sorted");
    }
    let total: f64 = result.drivers.iter().map(|d| d.raw_weight).sum();
    close("sum of raw weights", name, total, result.r2, 1e-12);
    for want in weights {
        let driver = want["name"].as_str().unwrap();
        let got = result
            .drivers
            .iter()
            .find(|d| d.name == driver)
            .unwrap_or_else(|| panic!("{name}: no driver {driver}"));
        let what = |field: &str| format!("{driver}.{field}");
        close(
            &what("raw_weight"),
            name,
            got.raw_weight,
            num(want, "raw_weight"),
            POINT_TOLERANCE,
        );
        close(
            &what("rescaled_pct"),
            name,
            got.rescaled_pct.unwrap(),
            num(want, "rescaled_pct"),
            1e-7,
        );
        close(
            &what("mean"),
            name,
            got.mean,
            num(want, "mean"),
            POINT_TOLERANCE,
        );
        assert_eq!(
            quadrant_name(got.quadrant),
            want["quadrant"].as_str().unwrap(),
            "{name} {driver}"
        );
        assert!(
            got.ci_low <= got.ci_high && got.ci_low >= 0.0,
            "{name} {driver}"
        );
        if want.get("ci_low").is_some() {
            bound_close(&what("ci_low"), name, got.ci_low, want, "ci_low", factor);
            bound_close(&what("ci_high"), name, got.ci_high, want, "ci_high", factor);
        }
    }
    if let Some(interval) = case.get("r2_interval") {
        bound_close(
            "r2 ci_low",
            name,
            result.r2_ci_low,
            interval,
            "ci_low",
            factor,
        );
        bound_close(
            "r2 ci_high",
            name,
            result.r2_ci_high,
            interval,
            "ci_high",
            factor,
        );
    }
}

#[test]
fn singular_cases_still_get_intervals() {
    let g = golden();
    let cases = g["cases"].as_array().unwrap();
    let find = |n: &str| cases.iter().find(|c| c["name"] == n).unwrap();
    let options = BootstrapOptions::default();

    // An exact copy of a driver: singular R_xx; the copies split the weight
    // and, drawn together, get the same interval.
    let case = find("exact_duplicate");
    let r = drivers::key_drivers(&summary_of(&rows_of(case)), &names_of(case), &options).unwrap();
    let get = |n: &str| r.drivers.iter().find(|d| d.name == n).unwrap();
    let (a, b) = (get("delivery"), get("delivery_copy"));
    close(
        "copy weight",
        "exact_duplicate",
        a.raw_weight,
        b.raw_weight,
        1e-9,
    );
    close("copy ci_low", "exact_duplicate", a.ci_low, b.ci_low, 1e-6);
    close(
        "copy ci_high",
        "exact_duplicate",
        a.ci_high,
        b.ci_high,
        1e-6,
    );
    for d in &r.drivers {
        assert!(d.ci_low.is_finite() && d.ci_low < d.raw_weight && d.raw_weight < d.ci_high);
    }

    // Outcome = a + b exactly: every drawn matrix is singular too, R² = 1.
    let case = find("perfect_fit");
    let r = drivers::key_drivers(&summary_of(&rows_of(case)), &names_of(case), &options).unwrap();
    close("r2", "perfect_fit", r.r2, 1.0, 1e-9);
    close("r2 ci_low", "perfect_fit", r.r2_ci_low, 1.0, 1e-9);
    close("r2 ci_high", "perfect_fit", r.r2_ci_high, 1.0, 1e-9);
    assert!(
        r.drivers
            .iter()
            .all(|d| d.ci_low.is_finite() && d.ci_high.is_finite())
    );
}

// ---------------------------------------------------------------------------
// The moment summary
// ---------------------------------------------------------------------------

fn rating_rows(width: usize, max_rows: usize) -> impl Strategy<Value = Vec<Vec<f64>>> {
    prop::collection::vec(
        prop::collection::vec((0u8..=10).prop_map(f64::from), width),
        0..max_rows,
    )
}

fn merged(parts: &[&MomentSummary]) -> MomentSummary {
    let mut s = MomentSummary::empty();
    for p in parts {
        s.try_merge(p).unwrap();
    }
    s
}

proptest! {
    #[test]
    fn merging_is_exact_in_any_order(a in rating_rows(4, 30), b in rating_rows(4, 30),
                                     c in rating_rows(4, 30)) {
        let (sa, sb, sc) = (summary_of(&a), summary_of(&b), summary_of(&c));
        let all: Vec<Vec<f64>> = a.iter().chain(&b).chain(&c).cloned().collect();
        let left = merged(&[&merged(&[&sa, &sb]), &sc]);
        let right = merged(&[&sc, &merged(&[&sb, &sa])]);
        // Empty parts are shapeless; compare with a shaped whole.
        let whole = summary_of(&all);
        prop_assert_eq!(&left, &right);
        prop_assert_eq!(&left, &whole);
        prop_assert_eq!(&MomentSummary::merge_all([&sa, &sb, &sc]), &whole);
    }

    #[test]
    fn retraction_returns_exactly_to_the_earlier_state(a in rating_rows(5, 40),
                                                       b in rating_rows(5, 40)) {
        let mut s = MomentSummary::new(5).unwrap();
        for row in &a { s.add(row).unwrap(); }
        let before = s.clone();
        let mut delta = MomentSummary::new(5).unwrap();
        for row in &b { delta.add(row).unwrap(); }
        s.try_merge(&delta).unwrap();
        s.retract(&delta).unwrap();
        prop_assert_eq!(&s, &before);
        // Retracting everything leaves exact zeros.
        s.retract(&before).unwrap();
        prop_assert_eq!(s, MomentSummary::new(5).unwrap());
    }

    #[test]
    fn projection_equals_the_summary_of_projected_rows(rows in rating_rows(5, 40),
                                                       pick in Just(vec![0usize, 3, 1])) {
        let projected: Vec<Vec<f64>> = rows.iter().map(|r| pick.iter().map(|&i| r[i]).collect()).collect();
        let mut want = MomentSummary::new(3).unwrap();
        for r in &projected { want.add(r).unwrap(); }
        let mut s = MomentSummary::new(5).unwrap();
        for r in &rows { s.add(r).unwrap(); }
        prop_assert_eq!(s.project(&pick).unwrap(), want);
    }

    #[test]
    fn the_flat_encoding_round_trips(rows in rating_rows(6, 40)) {
        let mut s = MomentSummary::new(6).unwrap();
        for r in &rows { s.add(r).unwrap(); }
        let flat = s.to_flat().unwrap();
        prop_assert_eq!(flat.len(), 2 + 6 + 21);
        prop_assert_eq!(MomentSummary::from_flat(&flat).unwrap(), s);
    }

    #[test]
    fn decoding_anything_never_panics(flat in prop::collection::vec(
        prop_oneof![Just(0.0), Just(1.0), Just(2.0), Just(3.0), Just(-1.0), Just(f64::NAN),
                    Just(1e300), Just(0.5), any::<f64>()], 0..16)) {
        if let Ok(s) = MomentSummary::from_flat(&flat) {
            prop_assert_eq!(s.to_flat().unwrap(), flat);
        }
    }

    #[test]
    fn weights_are_nonnegative_add_up_to_r2_and_follow_the_drivers(
        rows in prop::collection::vec(
            (0u8..=10, 1u8..=5, 1u8..=5, 1u8..=5).prop_map(|(y, a, b, c)| {
                vec![f64::from(y), f64::from(a), f64::from(b), f64::from(c)]
            }), 8..80)) {
        let s = summary_of(&rows);
        let Ok(r) = s.correlation() else { return Ok(()) };
        let w = drivers::relative_weights(&r).unwrap();
        prop_assert!(w.raw.iter().all(|&x| (0.0..=1.0 + 1e-9).contains(&x)));
        prop_assert!((w.raw.iter().sum::<f64>() - w.r2).abs() < 1e-9);
        prop_assert!((0.0..=1.0 + 1e-9).contains(&w.r2));
        // Reordering the drivers reorders their weights and nothing else.
        let swapped = s.project(&[0, 3, 1, 2]).unwrap().correlation().unwrap();
        let ws = drivers::relative_weights(&swapped).unwrap();
        prop_assert!((ws.r2 - w.r2).abs() < 1e-9);
        for (got, want) in ws.raw.iter().zip([w.raw[2], w.raw[0], w.raw[1]]) {
            prop_assert!((got - want).abs() < 1e-9, "{} vs {}", got, want);
        }
        // Shifting and rescaling a rating changes no correlation.
        let rescaled: Vec<Vec<f64>> = rows.iter()
            .map(|r| vec![r[0], 6.0 - r[1], 2.0 * r[2] + 1.0, r[3]]).collect();
        let wr = drivers::relative_weights(&summary_of(&rescaled).correlation().unwrap()).unwrap();
        for (got, want) in wr.raw.iter().zip(&w.raw) {
            prop_assert!((got - want).abs() < 1e-9);
        }
    }
}

#[test]
fn rows_of_the_wrong_shape_or_value_are_refused() {
    let mut s = MomentSummary::new(3).unwrap();
    s.add(&[1.0, 2.0, 3.0]).unwrap();
    let before = s.clone();
    assert_eq!(
        s.add(&[1.0, 2.0]),
        Err(DriverError::ShapeMismatch {
            expected: 3,
            found: 2
        })
    );
    assert_eq!(
        s.add(&[1.0, f64::NAN, 3.0]),
        Err(DriverError::NotFinite { index: 1 })
    );
    assert_eq!(s, before);
    assert_eq!(s.add_if_complete(&[Some(1.0), None, Some(3.0)]), Ok(false));
    assert_eq!(
        s.add_if_complete(&[Some(1.0), Some(2.0), Some(3.0)]),
        Ok(true)
    );
    assert_eq!(s.n(), 2);
    assert_eq!(MomentSummary::new(0), Err(DriverError::VariableCount(0)));
    assert_eq!(
        MomentSummary::new(drivers::MAX_VARIABLES + 1),
        Err(DriverError::VariableCount(drivers::MAX_VARIABLES + 1))
    );
    assert_eq!(
        s.project(&[0, 3]),
        Err(DriverError::Projection { index: 3 })
    );
    assert_eq!(
        s.project(&[1, 1]),
        Err(DriverError::Projection { index: 1 })
    );
}

#[test]
fn merging_different_shapes_is_refused_or_poisons() {
    let mut a = summary_of(&[vec![1.0, 2.0, 3.0]]);
    let b = summary_of(&[vec![1.0, 2.0]]);
    let before = a.clone();
    assert!(matches!(
        a.try_merge(&b),
        Err(DriverError::ShapeMismatch { .. })
    ));
    assert_eq!(a, before);
    // The trait's merge cannot report it: every later use does.
    a.merge(&b);
    assert_eq!(a.to_flat(), Err(DriverError::Inconsistent));
    assert_eq!(a.covariance(), Err(DriverError::Inconsistent));
    assert_eq!(a.means(), None);
    assert_eq!(
        drivers::key_drivers(&a, &["x", "y"], &BootstrapOptions::default()),
        Err(DriverError::Inconsistent)
    );
    // The shapeless empty summary is the identity on either side.
    let mut e = MomentSummary::empty();
    e.merge(&before);
    assert_eq!(e, before);
    let mut f = before.clone();
    f.merge(&MomentSummary::empty());
    assert_eq!(f, before);
}

#[test]
fn bad_encodings_are_errors() {
    let good = summary_of(&[vec![1.0, 2.0], vec![3.0, 5.0]])
        .to_flat()
        .unwrap();
    assert_eq!(good, vec![2.0, 2.0, 4.0, 7.0, 10.0, 17.0, 29.0]);
    for bad in [
        vec![],
        vec![2.0],
        good[..6].to_vec(),
        [good.clone(), vec![0.0]].concat(),
        vec![2.5, 2.0, 4.0, 7.0, 10.0, 17.0, 29.0],
        vec![2.0, 2.5, 4.0, 7.0, 10.0, 17.0, 29.0],
        vec![2.0, 2.0, f64::INFINITY, 7.0, 10.0, 17.0, 29.0],
        vec![-2.0, 2.0],
        vec![1e300, 0.0],
        vec![f64::NAN, 0.0],
        vec![0.0, 3.0],
    ] {
        assert!(
            matches!(
                MomentSummary::from_flat(&bad),
                Err(DriverError::Encoding(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        MomentSummary::from_flat(&[0.0, 0.0]),
        Ok(MomentSummary::empty())
    );
}

#[test]
fn statistics_need_enough_rows_and_variance() {
    // 3 variables need 5 rows.
    let rows = [
        vec![1.0, 2.0, 3.0],
        vec![2.0, 2.0, 1.0],
        vec![4.0, 3.0, 2.0],
        vec![5.0, 5.0, 1.0],
    ];
    let s = summary_of(&rows);
    assert_eq!(
        s.covariance(),
        Err(DriverError::TooFewRows { n: 4, needed: 5 })
    );
    assert_eq!(
        s.correlation(),
        Err(DriverError::TooFewRows { n: 4, needed: 5 })
    );
    let mut s5 = s.clone();
    s5.add(&[3.0, 1.0, 2.0]).unwrap();
    let cov = s5.covariance().unwrap();
    // var of the outcome column 1,2,4,5,3 = 2.5
    assert!((cov[(0, 0)] - 2.5).abs() < 1e-12);
    let constant = summary_of(&[
        vec![1.0, 2.0, 3.0],
        vec![2.0, 2.0, 1.0],
        vec![4.0, 2.0, 2.0],
        vec![5.0, 2.0, 1.0],
        vec![3.0, 2.0, 5.0],
    ]);
    assert_eq!(
        constant.correlation(),
        Err(DriverError::ZeroVariance { index: 1 })
    );
    assert_eq!(constant.means().unwrap(), vec![3.0, 2.0, 2.4]);
    assert_eq!(MomentSummary::empty().means(), None);
}

#[test]
fn one_driver_weighs_its_squared_correlation() {
    let rows: Vec<Vec<f64>> = (0..40)
        .map(|i| {
            let x = f64::from(i % 5 + 1);
            vec![(2.0 * x + f64::from(i % 3)).min(10.0), x]
        })
        .collect();
    let s = summary_of(&rows);
    let r = s.correlation().unwrap();
    let w = drivers::relative_weights(&r).unwrap();
    close("r^2", "one driver", w.raw[0], r[(0, 1)].powi(2), 1e-12);
    close("R^2", "one driver", w.r2, r[(0, 1)].powi(2), 1e-12);
    let kd = drivers::key_drivers(&s, &["support"], &BootstrapOptions::default()).unwrap();
    assert_eq!(kd.drivers[0].rescaled_pct, Some(100.0));
    assert_eq!(kd.drivers[0].quadrant, Quadrant::Maintain);
}

#[test]
fn relative_weights_refuse_what_is_not_a_correlation_matrix() {
    let ok = DMatrix::from_row_slice(2, 2, &[1.0, 0.5, 0.5, 1.0]);
    assert!(drivers::relative_weights(&ok).is_ok());
    for bad in [
        DMatrix::from_row_slice(1, 1, &[1.0]),
        DMatrix::from_row_slice(2, 2, &[1.0, 0.5, 0.4, 1.0]),
        DMatrix::from_row_slice(2, 2, &[2.0, 0.5, 0.5, 1.0]),
        DMatrix::from_row_slice(2, 2, &[1.0, f64::NAN, f64::NAN, 1.0]),
        DMatrix::from_row_slice(2, 2, &[1.0, 1.5, 1.5, 1.0]),
        DMatrix::from_row_slice(2, 3, &[1.0, 0.5, 0.5, 1.0, 0.0, 0.0]),
    ] {
        assert_eq!(
            drivers::relative_weights(&bad),
            Err(DriverError::NotCorrelation)
        );
    }
    // No driver explains anything: R² = 0, no rescaled share.
    let zero = DMatrix::from_row_slice(3, 3, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.3, 0.0, 0.3, 1.0]);
    let w = drivers::relative_weights(&zero).unwrap();
    assert_eq!((w.r2, w.raw.clone()), (0.0, vec![0.0, 0.0]));
}

#[test]
fn key_drivers_check_their_arguments() {
    let s = summary_of(&[vec![1.0, 2.0], vec![3.0, 5.0]]);
    let options = BootstrapOptions::default();
    assert_eq!(
        drivers::key_drivers(&s, &["a", "b"], &options),
        Err(DriverError::NameCount {
            names: 2,
            drivers: 1
        })
    );
    for replicates in [0, drivers::MAX_REPLICATES + 1] {
        assert_eq!(
            drivers::key_drivers(
                &s,
                &["a"],
                &BootstrapOptions {
                    replicates,
                    seed: 1
                }
            ),
            Err(DriverError::Replicates(replicates))
        );
    }
    assert_eq!(
        drivers::key_drivers(&s, &["a"], &options),
        Err(DriverError::TooFewRows { n: 2, needed: 4 })
    );
}

fn survey_rows(n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|_| {
            let z: Vec<f64> = (0..4).map(|_| rng.f64() * 4.0).collect();
            let y = (1.5 * z[0] + 0.8 * z[1] + 0.3 * z[2] + 3.0 * rng.f64())
                .round()
                .min(10.0);
            std::iter::once(y)
                .chain(z.iter().map(|v| (v + 1.0).floor().min(5.0)))
                .collect()
        })
        .collect()
}

#[test]
fn the_same_data_gets_the_same_result_whatever_the_merge_order() {
    let rows = survey_rows(500, 3);
    let whole = summary_of(&rows);
    let mut parts: Vec<MomentSummary> = rows.chunks(37).map(summary_of).collect();
    parts.reverse();
    let merged = MomentSummary::merge_all(&parts);
    assert_eq!(merged, whole);
    let names = ["delivery", "support", "price", "app"];
    let options = BootstrapOptions::default();
    let a = drivers::key_drivers(&whole, &names, &options).unwrap();
    let b = drivers::key_drivers(&merged, &names, &options).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.bootstrap_replicates, drivers::DEFAULT_REPLICATES);
    assert_eq!(a.bootstrap_seed, DEFAULT_SEED);
    assert_eq!(a.method, drivers::METHOD);
    let other_seed = drivers::key_drivers(
        &whole,
        &names,
        &BootstrapOptions {
            seed: 99,
            ..options
        },
    )
    .unwrap();
    assert_eq!(other_seed.r2, a.r2);
    assert_ne!(other_seed.drivers[0].ci_low, a.drivers[0].ci_low);
    // Serialized for the API: snake_case quadrants, null-free numbers.
    let json = serde_json::to_value(&a).unwrap();
    assert!(json["drivers"][0]["quadrant"].is_string());
    for key in [
        "r2",
        "n",
        "drivers",
        "constant_drivers",
        "method",
        "bootstrap_replicates",
        "bootstrap_seed",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    for key in [
        "name",
        "raw_weight",
        "rescaled_pct",
        "ci_low",
        "ci_high",
        "mean",
        "quadrant",
    ] {
        assert!(json["drivers"][0].get(key).is_some(), "{key}");
    }
}

// ---------------------------------------------------------------------------
// Coverage of the bootstrap interval, by simulation
// ---------------------------------------------------------------------------

/// A latent linear model rounded and clipped into survey ratings.
struct Population {
    /// Driver rating = clip(round(centre + spread · z), 1, 5).
    driver_centre: f64,
    driver_spread: f64,
    /// Outcome rating = clip(round(centre + spread · latent / sd), 0, 10).
    outcome_centre: f64,
    outcome_spread: f64,
    /// Equal correlation of the latent drivers.
    rho: f64,
}

const COEFFICIENTS: [f64; 4] = [0.6, 0.35, 0.15, 0.03];
const NOISE_SD: f64 = 0.8;

struct Gaussian {
    rng: fastrand::Rng,
}

impl Gaussian {
    fn next(&mut self) -> f64 {
        let u = 1.0 - self.rng.f64();
        let v = self.rng.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

impl Population {
    fn sample(&self, n: usize, gaussian: &mut Gaussian) -> MomentSummary {
        let k = COEFFICIENTS.len();
        // Latent drivers: √ρ·common + √(1−ρ)·own.
        let signal_var = {
            let b: f64 = COEFFICIENTS.iter().sum();
            let bb: f64 = COEFFICIENTS.iter().map(|c| c * c).sum();
            self.rho * b * b + (1.0 - self.rho) * bb
        };
        let latent_sd = (signal_var + NOISE_SD * NOISE_SD).sqrt();
        let mut s = MomentSummary::new(k + 1).unwrap();
        let mut row = vec![0.0; k + 1];
        for _ in 0..n {
            let common = gaussian.next();
            let mut latent = NOISE_SD * gaussian.next();
            for j in 0..k {
                let z = self.rho.sqrt() * common + (1.0 - self.rho).sqrt() * gaussian.next();
                latent += COEFFICIENTS[j] * z;
                row[j + 1] = (self.driver_centre + self.driver_spread * z)
                    .round()
                    .clamp(1.0, 5.0);
            }
            row[0] = (self.outcome_centre + self.outcome_spread * latent / latent_sd)
                .round()
                .clamp(0.0, 10.0);
            s.add(&row).unwrap();
        }
        s
    }
}

const NAMES: [&str; 4] = ["strong", "medium", "weak", "faint"];

/// Share of `repetitions` samples of size `n` whose interval covers the
/// population's value: per driver, then R² (slot 4). The second array is the
/// same for intervals from a deliberately misread summary that claims 4n
/// rows (the sample merged with itself four times: same correlations,
/// intervals half as wide), which the checks must reject.
fn coverage(
    population: &Population,
    n: usize,
    repetitions: usize,
    replicates: usize,
    gaussian: &mut Gaussian,
) -> ([f64; 5], [f64; 5]) {
    let truth_sample = population.sample(1_000_000, gaussian);
    let truth = drivers::relative_weights(&truth_sample.correlation().unwrap()).unwrap();
    let options = BootstrapOptions {
        replicates,
        seed: DEFAULT_SEED,
    };
    let mut covered = [0usize; 5];
    let mut misread_covered = [0usize; 5];
    for _ in 0..repetitions {
        let sample = population.sample(n, gaussian);
        let four_fold = MomentSummary::merge_all([&sample, &sample, &sample, &sample]);
        for (summary, tally) in [(&sample, &mut covered), (&four_fold, &mut misread_covered)] {
            let result = drivers::key_drivers(summary, &NAMES, &options).unwrap();
            for d in &result.drivers {
                let j = NAMES.iter().position(|&x| x == d.name).unwrap();
                if (d.ci_low..=d.ci_high).contains(&truth.raw[j]) {
                    tally[j] += 1;
                }
            }
            if (result.r2_ci_low..=result.r2_ci_high).contains(&truth.r2) {
                tally[4] += 1;
            }
        }
    }
    let share = |c: [usize; 5]| c.map(|x| x as f64 / repetitions as f64);
    eprintln!("  truth {:?}, R² {:.4}", truth.raw, truth.r2);
    (share(covered), share(misread_covered))
}

const SYMMETRIC: Population = Population {
    driver_centre: 3.0,
    driver_spread: 1.0,
    outcome_centre: 5.0,
    outcome_spread: 2.0,
    rho: 0.4,
};

/// Ceiling effects: drivers mostly 4–5, a third of outcomes 10.
const CEILING: Population = Population {
    driver_centre: 4.3,
    driver_spread: 0.9,
    outcome_centre: 8.5,
    outcome_spread: 2.0,
    rho: 0.5,
};

/// The 95% interval must cover the true weight (and R²) 90–99% of the time
/// for discrete 1–5 drivers and a 0–10 outcome without ceiling effects, and
/// 88–99% with strong ceiling effects (where the normal-theory bootstrap
/// understates the spread by about a tenth: measured 92–95%). Over 1,000
/// repetitions the standard error of a coverage near 0.95 is 0.7 points, so
/// the bands are over 4 standard errors below nominal, yet the misread
/// interval (claiming 4n rows, about 0.65 coverage) fails them. Seeded: the
/// figures are reproducible. About 15 s in release; run with
/// `cargo test --release -p northstar-core --test it -- --ignored --nocapture covers_the_true`.
#[test]
#[ignore = "slow in debug builds; run in release with -- --ignored"]
fn the_bootstrap_interval_covers_the_true_weight() {
    let mut gaussian = Gaussian {
        rng: fastrand::Rng::with_seed(2000),
    };
    for (label, population, band) in [
        ("symmetric", &SYMMETRIC, 0.90..=0.99),
        ("ceiling", &CEILING, 0.88..=0.99),
    ] {
        for n in [200, 2000] {
            eprintln!("{label} population, n = {n}, 1000 repetitions, B = 1000:");
            let (ok, misread) = coverage(population, n, 1000, 1000, &mut gaussian);
            eprintln!("  coverage (drivers…, R²) {ok:?}\n  misread (4n) {misread:?}");
            for c in ok {
                assert!(band.contains(&c), "{label} n={n}: coverage {c}");
            }
            assert!(
                misread.iter().all(|&c| c < 0.85),
                "{label} n={n}: {misread:?}"
            );
        }
    }
}

/// A quicker version that runs with every test: the symmetric population,
/// n = 200, 200 repetitions of B = 400 (standard error about 1.5 points).
#[test]
fn the_bootstrap_interval_covers_the_true_weight_quick_check() {
    let mut gaussian = Gaussian {
        rng: fastrand::Rng::with_seed(2001),
    };
    let (ok, misread) = coverage(&SYMMETRIC, 200, 200, 400, &mut gaussian);
    eprintln!("quick coverage {ok:?}; misread {misread:?}");
    let mean = ok.iter().sum::<f64>() / 5.0;
    assert!((0.90..=0.99).contains(&mean), "{ok:?}");
    assert!(ok.iter().all(|c| (0.87..=0.99).contains(c)), "{ok:?}");
    assert!(misread.iter().sum::<f64>() / 5.0 < 0.85, "{misread:?}");
}

/// Times one analysis of 10 drivers (p = 11) with the default B = 1,000 (and
/// of 5 drivers, and with B = 400);
/// the server's budget for the whole request is 10 ms. Run with
/// `cargo test --release -p northstar-core --test it -- --ignored --nocapture timing`.
#[test]
#[ignore = "a timing, meaningful in release builds only"]
fn timing_of_ten_drivers() {
    let mut gaussian = Gaussian {
        rng: fastrand::Rng::with_seed(5),
    };
    let mut s = MomentSummary::new(11).unwrap();
    let mut row = [0.0; 11];
    for _ in 0..5_000 {
        let common = gaussian.next();
        let mut y = 0.0;
        for (j, slot) in row.iter_mut().enumerate().skip(1) {
            let z = 0.6 * common + 0.8 * gaussian.next();
            y += z / j as f64;
            *slot = (3.5 + z).round().clamp(1.0, 5.0);
        }
        row[0] = (7.0 + y + gaussian.next()).round().clamp(0.0, 10.0);
        s.add(&row).unwrap();
    }
    for variables in [6, 11] {
        let summary = s.project(&(0..variables).collect::<Vec<_>>()).unwrap();
        let names: Vec<String> = (1..variables).map(|j| format!("driver{j}")).collect();
        for replicates in [400, 1000] {
            let options = BootstrapOptions {
                replicates,
                seed: DEFAULT_SEED,
            };
            drivers::key_drivers(&summary, &names, &options).unwrap();
            let runs = 20;
            let start = std::time::Instant::now();
            for _ in 0..runs {
                std::hint::black_box(drivers::key_drivers(&summary, &names, &options).unwrap());
            }
            let each = start.elapsed() / runs;
            eprintln!("key_drivers, p = {variables}, B = {replicates}: {each:?} per call");
        }
    }
}

/// Taking rows away (a replaced or erased answer) leaves exactly the
/// summary of the rows that remain, and a removal of every row is empty.
#[test]
fn removing_rows_leaves_the_summary_of_the_rest() {
    let rows = vec![
        vec![9.0, 4.0, 5.0],
        vec![3.0, 1.0, 2.0],
        vec![7.0, 3.0, 3.0],
    ];
    let mut m = summary_of(&rows);
    m.remove(&rows[1]).unwrap();
    assert_eq!(m, summary_of(&[rows[0].clone(), rows[2].clone()]));
    m.remove(&rows[0]).unwrap();
    m.remove(&rows[2]).unwrap();
    assert_eq!(m.n(), 0);
    assert!(m.to_flat().unwrap()[2..].iter().all(|v| *v == 0.0));
    assert!(m.remove(&[f64::NAN, 1.0, 1.0]).is_err());
}
