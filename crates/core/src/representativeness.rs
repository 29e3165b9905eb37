//! Who answered, against who the customers are: the mix of respondents on a
//! dimension (e.g. segment) compared with the customer base, so that a
//! figure's reader can see whether some customers are over-represented.

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// One value of the dimension: its share of customers and of answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MixRow {
    pub key: String,
    pub customers: u64,
    /// Share of customers, 0…1.
    pub customer_share: f64,
    pub answers: u64,
    /// Share of answers (from customers of a known value), 0…1.
    pub answer_share: f64,
    /// answer_share / customer_share: above 1 means over-represented.
    pub ratio: f64,
}

/// Pearson's χ² test of the respondent mix against the customer shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MixTest {
    pub chi_square: f64,
    pub degrees_of_freedom: u32,
    pub p_value: f64,
    /// Values whose expected count was under [`MIN_EXPECTED`], pooled into
    /// one category for the test (empty when none were).
    pub pooled: Vec<String>,
}

/// The comparison, with Pearson's goodness-of-fit test when its
/// approximation holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MixComparison {
    pub rows: Vec<MixRow>,
    /// Answers whose value is not among the customers' (not tested).
    pub answers_unmatched: u64,
    /// `None` when too few answers for the χ² approximation (see
    /// `no_test_reason`).
    pub test: Option<MixTest>,
    pub no_test_reason: Option<String>,
}

/// Pearson's χ² test of independence of a k × 2 table (per category:
/// answered, not answered), without continuity correction — the same as
/// `scipy.stats.chi2_contingency(table, correction=False)`: whether the
/// categories answered at different rates. `None` with fewer than two
/// categories or a zero margin.
pub fn chi_square_independence(table: &[[u64; 2]]) -> Option<(f64, u32, f64)> {
    if table.len() < 2 {
        return None;
    }
    let rows: Vec<f64> = table.iter().map(|r| (r[0] + r[1]) as f64).collect();
    let cols = [0, 1].map(|j| table.iter().map(|r| r[j] as f64).sum::<f64>());
    let total: f64 = rows.iter().sum();
    if total <= 0.0 || cols.iter().any(|c| *c <= 0.0) || rows.iter().any(|r| *r <= 0.0) {
        return None;
    }
    let mut statistic = 0.0;
    for (r, row) in table.iter().zip(&rows) {
        for j in 0..2 {
            let expected = row * cols[j] / total;
            statistic += (r[j] as f64 - expected).powi(2) / expected;
        }
    }
    let df = (table.len() - 1) as u32;
    let p = ChiSquared::new(f64::from(df)).ok()?.sf(statistic);
    Some((statistic, df, p))
}

/// Smallest expected count per category for Pearson's χ² approximation
/// (Cochran 1954's rule: every expected count at least 5).
pub const MIN_EXPECTED: f64 = 5.0;

/// Pearson's χ² goodness-of-fit statistic and p-value of observed counts
/// against expected shares (Pearson 1900; the same as
/// `scipy.stats.chisquare(observed, total * shares)`). `None` for fewer than
/// two categories or a zero expected count.
pub fn chi_square_goodness_of_fit(observed: &[u64], shares: &[f64]) -> Option<(f64, u32, f64)> {
    if observed.len() < 2 || observed.len() != shares.len() {
        return None;
    }
    let total: u64 = observed.iter().sum();
    let mut statistic = 0.0;
    for (&o, &share) in observed.iter().zip(shares) {
        let expected = total as f64 * share;
        if expected <= 0.0 {
            return None;
        }
        statistic += (o as f64 - expected).powi(2) / expected;
    }
    let df = (observed.len() - 1) as u32;
    let p = ChiSquared::new(f64::from(df)).ok()?.sf(statistic);
    Some((statistic, df, p))
}

/// The χ² test with categories under [`MIN_EXPECTED`] pooled: the smallest
/// expected categories are merged into one until every category (the pooled
/// one too) expects at least 5; with fewer than two categories left there is
/// no test, and the reason says so.
fn pooled_test(rows: &[MixRow], total: u64) -> Result<MixTest, String> {
    let expected = |share: f64| total as f64 * share;
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| rows[a].customer_share.total_cmp(&rows[b].customer_share));
    // Pool the smallest until the pool and every remaining category are large enough.
    let mut pooled = 0;
    let pool_share = |k: usize| {
        order[..k]
            .iter()
            .map(|&i| rows[i].customer_share)
            .sum::<f64>()
    };
    while pooled < order.len() {
        let smallest_left = order.get(pooled).map(|&i| expected(rows[i].customer_share));
        let pool_ok = pooled == 0 || expected(pool_share(pooled)) >= MIN_EXPECTED;
        if pool_ok && smallest_left.is_some_and(|e| e >= MIN_EXPECTED) {
            break;
        }
        pooled += if pooled == 0 { 2.min(order.len()) } else { 1 };
    }
    let categories = order.len() - pooled + usize::from(pooled > 0);
    if categories < 2 {
        return Err(format!(
            "too few answers ({total}) for a chi-square test: every category needs at least {MIN_EXPECTED} expected answers (Cochran's rule), even with small segments pooled"
        ));
    }
    let mut observed = Vec::with_capacity(categories);
    let mut shares = Vec::with_capacity(categories);
    if pooled > 0 {
        observed.push(order[..pooled].iter().map(|&i| rows[i].answers).sum());
        shares.push(pool_share(pooled));
    }
    for &i in &order[pooled..] {
        observed.push(rows[i].answers);
        shares.push(rows[i].customer_share);
    }
    let (chi_square, degrees_of_freedom, p_value) = chi_square_goodness_of_fit(&observed, &shares)
        .ok_or_else(|| "no customers in the compared segments".to_string())?;
    let mut pooled_keys: Vec<String> = order[..pooled]
        .iter()
        .map(|&i| rows[i].key.clone())
        .collect();
    pooled_keys.sort();
    Ok(MixTest {
        chi_square,
        degrees_of_freedom,
        p_value,
        pooled: pooled_keys,
    })
}

/// Compares answers (or respondents) per value with customers per value.
pub fn compare_mix(
    customers: &[(String, u64)],
    answers: &[(String, u64)],
) -> Option<MixComparison> {
    let total_customers: u64 = customers.iter().map(|(_, c)| c).sum();
    if total_customers == 0 {
        return None;
    }
    let answered = |key: &str| {
        answers
            .iter()
            .find(|(k, _)| k == key)
            .map_or(0, |(_, a)| *a)
    };
    let matched: u64 = customers.iter().map(|(k, _)| answered(k)).sum();
    let unmatched = answers.iter().map(|(_, a)| a).sum::<u64>() - matched;
    if matched == 0 {
        return None;
    }
    let rows: Vec<MixRow> = customers
        .iter()
        .map(|(key, c)| {
            let customer_share = *c as f64 / total_customers as f64;
            let answer_share = answered(key) as f64 / matched as f64;
            MixRow {
                key: key.clone(),
                customers: *c,
                customer_share,
                answers: answered(key),
                answer_share,
                ratio: if customer_share > 0.0 {
                    answer_share / customer_share
                } else {
                    f64::INFINITY
                },
            }
        })
        .collect();
    let (test, no_test_reason) = match pooled_test(&rows, matched) {
        Ok(t) => (Some(t), None),
        Err(reason) => (None, Some(reason)),
    };
    Some(MixComparison {
        rows,
        answers_unmatched: unmatched,
        test,
        no_test_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_like_the_customers_is_not_flagged() {
        let customers = [("smb".to_string(), 700), ("enterprise".to_string(), 300)];
        let answers = [
            ("smb".to_string(), 70),
            ("enterprise".to_string(), 30),
            ("".to_string(), 5),
        ];
        let m = compare_mix(&customers, &answers).unwrap();
        assert!((m.test.as_ref().unwrap().p_value - 1.0).abs() < 1e-12);
        assert_eq!(m.answers_unmatched, 5);
        assert!((m.rows[0].ratio - 1.0).abs() < 1e-12);
        assert!(compare_mix(&[], &answers).is_none());
    }

    /// Four answers cannot support a χ² verdict; small segments are pooled.
    #[test]
    fn small_expected_counts_are_pooled_or_not_tested() {
        let customers = [
            ("a".to_string(), 600),
            ("b".to_string(), 390),
            ("c".to_string(), 6),
            ("d".to_string(), 4),
        ];
        let few = [
            ("a".to_string(), 0),
            ("b".to_string(), 0),
            ("c".to_string(), 4),
        ];
        let m = compare_mix(&customers, &few).unwrap();
        assert!(m.test.is_none());
        assert!(m.no_test_reason.unwrap().contains("Cochran"));
        let many = [
            ("a".to_string(), 300),
            ("b".to_string(), 190),
            ("c".to_string(), 9),
            ("d".to_string(), 1),
        ];
        let m = compare_mix(&customers, &many).unwrap();
        let t = m.test.unwrap();
        // c and d expect 3 and 2 answers: pooled into one category of 5.
        assert_eq!(t.pooled, ["c", "d"]);
        assert_eq!(t.degrees_of_freedom, 2);
        let (stat, _, _) = chi_square_goodness_of_fit(&[10, 300, 190], &[0.01, 0.6, 0.39]).unwrap();
        assert!((t.chi_square - stat).abs() < 1e-9);
    }

    #[test]
    fn independence_matches_scipy_chi2_contingency() {
        // scipy 1.17.1: chi2_contingency(table, correction=False).
        let cases: [(&[[u64; 2]], f64, u32, f64); 2] = [
            (
                &[[222, 255], [257, 545], [341, 1332]],
                136.59252563050674,
                2,
                2.1842881250446056e-30,
            ),
            (
                &[[12, 30], [9, 41], [20, 25], [3, 18]],
                10.515473785473787,
                3,
                0.014656296098679985,
            ),
        ];
        for (table, chi, df, p) in cases {
            let (c, d, q) = chi_square_independence(table).unwrap_or_default();
            assert!((c - chi).abs() < 1e-9 * chi, "{c} vs {chi}");
            assert_eq!(d, df);
            assert!((q - p).abs() <= 1e-9 * p, "{q} vs {p}");
        }
        assert!(chi_square_independence(&[[1, 2]]).is_none());
        assert!(chi_square_independence(&[[0, 2], [0, 3]]).is_none());
    }
}
