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

/// The comparison, with Pearson's goodness-of-fit test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MixComparison {
    pub rows: Vec<MixRow>,
    /// Answers whose value is not among the customers' (not tested).
    pub answers_unmatched: u64,
    pub chi_square: f64,
    pub degrees_of_freedom: u32,
    pub p_value: f64,
}

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

/// Compares answers per value with customers per value.
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
    let observed: Vec<u64> = rows.iter().map(|r| r.answers).collect();
    let shares: Vec<f64> = rows.iter().map(|r| r.customer_share).collect();
    let (chi_square, degrees_of_freedom, p_value) = chi_square_goodness_of_fit(&observed, &shares)?;
    Some(MixComparison {
        rows,
        answers_unmatched: unmatched,
        chi_square,
        degrees_of_freedom,
        p_value,
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
        assert!((m.p_value - 1.0).abs() < 1e-12);
        assert_eq!(m.answers_unmatched, 5);
        assert!((m.rows[0].ratio - 1.0).abs() < 1e-12);
        assert!(compare_mix(&[], &answers).is_none());
    }
}
