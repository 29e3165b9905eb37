//! Acquisition and retention per period (seed 004: put CX measures beside
//! the operational and financial ones — conversion beside retention), from
//! customers' lifecycle dates.

use serde::Serialize;

use crate::calendar::Day;
use crate::estimate;
use crate::summary::ProportionSummary;

/// Customers sharing lifecycle dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleCount {
    pub acquired_on: Option<Day>,
    pub churned_on: Option<Day>,
    /// Flagged as churned (with or without a date).
    pub churned: bool,
    pub customers: u64,
}

/// Acquisition and retention over one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodRates {
    /// Customers at the start: acquired before the period (or with no
    /// acquisition date) and not churned before it; churned customers
    /// without a churn date are left out (`undated_churn`).
    pub base: u64,
    /// Acquired within the period.
    pub acquired: u64,
    /// Of the base, churned within the period.
    pub churned: u64,
    /// acquired ÷ base.
    pub acquisition_rate: Option<f64>,
    /// (base − churned) ÷ base, with its Wilson 95% interval.
    pub retention_rate: Option<f64>,
    pub retention_ci_low: Option<f64>,
    pub retention_ci_high: Option<f64>,
    /// Churned customers without a churn date, left out of the base.
    pub undated_churn: u64,
}

/// What [`PeriodRates`] computes, for provenance panels.
pub const METHOD: &str = "base = customers acquired before the period (or without an acquisition date) and not churned before it; acquisition rate = customers acquired in the period ÷ base; retention rate = (base − base customers who churned in the period) ÷ base, 95% interval by Wilson (1927); churned customers without a churn date are left out";

/// The rates of inclusive days `from`..=`to`.
pub fn period_rates(counts: &[LifecycleCount], from: Day, to: Day) -> PeriodRates {
    let mut r = PeriodRates {
        base: 0,
        acquired: 0,
        churned: 0,
        acquisition_rate: None,
        retention_rate: None,
        retention_ci_low: None,
        retention_ci_high: None,
        undated_churn: 0,
    };
    for c in counts {
        if c.acquired_on.is_some_and(|a| a >= from && a <= to) {
            r.acquired += c.customers;
        }
        if c.churned && c.churned_on.is_none() {
            r.undated_churn += c.customers;
            continue;
        }
        let in_base =
            c.acquired_on.is_none_or(|a| a < from) && c.churned_on.is_none_or(|ch| ch >= from);
        if in_base {
            r.base += c.customers;
            if c.churned_on.is_some_and(|ch| ch <= to) {
                r.churned += c.customers;
            }
        }
    }
    if r.base > 0 {
        let base = r.base as f64;
        r.acquisition_rate = Some(r.acquired as f64 / base);
        let kept = estimate::wilson(&ProportionSummary {
            successes: (r.base - r.churned) as i64,
            trials: r.base as i64,
        });
        r.retention_rate = kept.value;
        r.retention_ci_low = kept.ci_low;
        r.retention_ci_high = kept.ci_high;
    }
    r
}
