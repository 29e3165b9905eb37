//! Departments: the scorecard arithmetic of department.rs — quantiles,
//! KPI values, the KPI-to-customer-metric correlation with its interval and
//! the North Star's decomposition into departments' contributions — against
//! tools/golden/departments.json, made by
//! tools/golden/make_golden_departments.py (numpy's quantiles, means and
//! counts; scipy.stats.pearsonr and its default confidence interval; NPS per
//! department, overall and for the rest pooled from raw 0–10 scores).

use northstar_core::department::{
    self, Contribution, Correlation, Direction, Kpi, KpiRecord, KpiValue,
};
use serde_json::Value;

/// Absolute tolerance against the reference.
const TOLERANCE: f64 = 1e-9;
/// Each part but the last is share × value to within this.
const PART_TOLERANCE: f64 = 1e-12;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/golden/departments.json"
    );
    let text = std::fs::read_to_string(path).expect("tools/golden/departments.json is committed");
    serde_json::from_str(&text).expect("departments.json parses")
}

fn cases<'a>(g: &'a Value, key: &str) -> &'a Vec<Value> {
    let list = g[key].as_array().unwrap_or_else(|| panic!("{key} missing"));
    assert!(list.len() >= 5, "{key} has too few cases");
    list
}

fn name(case: &Value) -> &str {
    case["name"].as_str().expect("a case name")
}

/// A float written as a JSON number, or "NaN" / "inf" / "-inf".
fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("a float"),
        Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("{other:?} is not a number"),
        },
        other => panic!("{other} is not a number"),
    }
}

/// A float written as its shortest round-tripping decimal (Python's repr),
/// parsed exactly (serde_json's default float parsing can be an ulp off).
fn exact(v: &Value) -> f64 {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a decimal string"))
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().expect("a list").iter().map(number).collect()
}

/// Both absent, or both present and within [`TOLERANCE`].
fn close(what: &str, got: Option<f64>, want: Option<f64>) {
    match (got, want) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= TOLERANCE,
            "{what}: got {g}, want {w} (off by {:e})",
            (g - w).abs()
        ),
        (g, w) => panic!("{what}: got {g:?}, want {w:?}"),
    }
}

#[test]
fn the_golden_file_records_its_makers() {
    let g = golden();
    for package in ["python", "numpy", "scipy", "script"] {
        assert!(g["generated_by"][package].is_string(), "{package}");
    }
    assert!((northstar_core::estimate::z_critical() - number(&g["z"])).abs() < 1e-12);
}

#[test]
fn quantiles_match_numpy_linear() {
    let g = golden();
    for case in cases(&g, "quantiles") {
        let mut sorted = numbers(&case["values"]);
        sorted.sort_by(f64::total_cmp);
        let qs = numbers(&case["q"]);
        let want = numbers(&case["expected"]);
        assert_eq!(qs.len(), want.len());
        for (q, w) in qs.iter().zip(want) {
            close(
                &format!("{} q = {q}", name(case)),
                department::quantile_sorted(&sorted, *q),
                Some(w),
            );
        }
    }
    assert_eq!(department::quantile_sorted(&[], 0.5), None);
}

#[test]
fn kpi_values_match_numpy() {
    let g = golden();
    let mut statistics = std::collections::BTreeSet::new();
    let mut share_directions = Vec::new();
    for case in cases(&g, "kpi") {
        let kpi: Kpi = serde_json::from_value(case["kpi"].clone()).expect("a KPI");
        statistics.insert(kpi.statistic.as_str());
        if kpi.statistic.as_str() == "share_within_target" {
            share_directions.push(kpi.measure_direction);
        }
        let records: Vec<KpiRecord> = case["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| KpiRecord {
                value: number(&r["value"]),
                target: (!r["target"].is_null()).then(|| number(&r["target"])),
            })
            .collect();
        let want = &case["expected"];
        let KpiValue { value, n } = department::kpi_value(&kpi, &records);
        let what = name(case);
        assert_eq!(n as u64, want["n"].as_u64().expect("n"), "{what}: n");
        close(what, value, want["value"].as_f64());
        // Whether the KPI meets its own target (on the target counts).
        let meets = value.map(|v| kpi.direction.meets(v, kpi.target));
        assert_eq!(meets, want["meets_target"].as_bool(), "{what}: meets");
    }
    assert_eq!(
        statistics.into_iter().collect::<Vec<_>>(),
        ["external", "mean", "median", "p90", "share_within_target"]
    );
    // Records within their own target both ways: at or below, at or above.
    for d in [Direction::LowerIsBetter, Direction::HigherIsBetter] {
        assert!(share_directions.contains(&d), "{d:?}");
    }
}

#[test]
fn correlations_match_scipy_pearsonr() {
    let g = golden();
    for case in cases(&g, "correlation") {
        let (x, y) = (numbers(&case["x"]), numbers(&case["y"]));
        let pairs: Vec<(f64, f64)> = x.into_iter().zip(y).collect();
        let got = department::correlation(&pairs);
        let want = &case["expected"];
        let what = name(case);
        let Some(Correlation {
            r,
            n,
            ci_low,
            ci_high,
            ..
        }) = got
        else {
            assert!(want.is_null(), "{what}: no correlation, want {want}");
            continue;
        };
        assert!(!want.is_null(), "{what}: got r = {r}, want none");
        assert_eq!(n as u64, want["n"].as_u64().expect("n"), "{what}: n");
        close(&format!("{what}: r"), Some(r), want["r"].as_f64());
        close(&format!("{what}: ci_low"), ci_low, want["ci_low"].as_f64());
        close(
            &format!("{what}: ci_high"),
            ci_high,
            want["ci_high"].as_f64(),
        );
    }
}

#[test]
fn contributions_match_numpy_nps() {
    let g = golden();
    let mut inexact = 0;
    for case in cases(&g, "contributions") {
        let what = name(case);
        let want = &case["expected"];
        let parts = want["parts"].as_array().expect("parts");
        let groups: Vec<(String, i64, f64)> = parts
            .iter()
            .map(|p| {
                (
                    p["department"].as_str().expect("department").to_string(),
                    p["n"].as_i64().expect("n"),
                    exact(&p["value"]),
                )
            })
            .collect();
        let overall = exact(&want["overall"]);
        let got: Vec<Contribution> = department::contributions(&groups, overall);
        assert_eq!(got.len(), parts.len(), "{what}");
        let total = want["total"].as_i64().expect("total");
        assert_eq!(groups.iter().map(|g| g.1).sum::<i64>(), total, "{what}");
        for (i, (c, p)) in got.iter().zip(parts).enumerate() {
            let at = format!("{what}: {}", c.department);
            assert_eq!(c.department, p["department"].as_str().expect("name"));
            assert_eq!(c.value.to_bits(), exact(&p["value"]).to_bits(), "{at}");
            let share = exact(&p["share"]);
            assert!((c.share - share).abs() <= PART_TOLERANCE, "{at}: share");
            let points = exact(&p["points"]);
            if i + 1 < got.len() {
                assert!(
                    (c.points - points).abs() <= PART_TOLERANCE,
                    "{at}: points {} vs {points}",
                    c.points
                );
            } else {
                // The last part absorbs the rounding of the others.
                close(&format!("{at}: points"), Some(c.points), Some(points));
            }
            let rest = p["if_matched_rest"]
                .as_str()
                .map(|_| exact(&p["if_matched_rest"]));
            close(&format!("{at}: if_matched_rest"), c.if_matched_rest, rest);
        }
        // The parts added left to right.
        let sum = got.iter().fold(0.0, |acc, c| acc + c.points);
        let prefix = got[..got.len() - 1]
            .iter()
            .fold(0.0, |acc, c| acc + c.points);
        assert_eq!(
            prefix.to_bits(),
            exact(&want["prefix_sum"]).to_bits(),
            "{what}: prefix"
        );
        if want["sum_exact_possible"].as_bool().expect("a flag") {
            assert_eq!(
                sum.to_bits(),
                overall.to_bits(),
                "{what}: Σ points = {sum:e}, overall {overall:e}"
            );
        } else {
            // No f64 last part gives the overall figure exactly: the sum is
            // the nearest one reachable.
            inexact += 1;
            let closest: Vec<u64> = want["closest_sums"]
                .as_array()
                .expect("closest sums")
                .iter()
                .map(|s| exact(s).to_bits())
                .collect();
            assert!(
                closest.contains(&sum.to_bits()),
                "{what}: Σ points = {sum:e}, want one of {closest:?}"
            );
        }
    }
    assert!(
        inexact >= 1,
        "the golden file keeps a split no f64 sums exactly"
    );
}

/// The North Star's parts rounded to the grid sum to their total exactly in
/// any order of addition (forward, backward, compensated), and stay within
/// 1e-12 of share × value and of the overall figure.
#[test]
fn exact_contributions_sum_exactly_in_any_order() {
    let g = golden();
    for case in cases(&g, "contributions") {
        let what = name(case);
        let want = &case["expected"];
        let groups: Vec<(String, i64, f64)> = want["parts"]
            .as_array()
            .expect("parts")
            .iter()
            .map(|p| {
                (
                    p["department"].as_str().expect("department").to_string(),
                    p["n"].as_i64().expect("n"),
                    exact(&p["value"]),
                )
            })
            .collect();
        let overall = exact(&want["overall"]);
        let (parts, total) = department::exact_contributions(&groups, overall);
        assert!(
            (total - overall).abs() <= 1e-12,
            "{what}: total {total} vs {overall}"
        );
        let forward = parts.iter().fold(0.0, |acc, c| acc + c.points);
        let backward = parts.iter().rev().fold(0.0, |acc, c| acc + c.points);
        let (mut sum, mut compensation) = (0.0f64, 0.0f64);
        for c in &parts {
            let t = sum + c.points;
            compensation += if sum.abs() >= c.points.abs() {
                (sum - t) + c.points
            } else {
                (c.points - t) + sum
            };
            sum = t;
        }
        for (how, s) in [
            ("forward", forward),
            ("backward", backward),
            ("compensated", sum + compensation),
        ] {
            assert_eq!(
                s.to_bits(),
                total.to_bits(),
                "{what}: {how} {s:e} vs {total:e}"
            );
        }
        for c in &parts[..parts.len() - 1] {
            assert!(
                (c.points - c.share * c.value).abs() <= 1e-12,
                "{what}: {}",
                c.department
            );
        }
    }
}
