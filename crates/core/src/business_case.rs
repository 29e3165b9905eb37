//! The arithmetic of a business case (issue 11): net present value, return
//! on investment and payback of yearly cash flows. Cash flow `t` falls at
//! the end of year `t`, the first (year 0) today — numpy-financial's `npv`
//! convention: NPV = Σₜ CFₜ / (1 + r)ᵗ.

/// Most years a case may span.
pub const MAX_YEARS: usize = 50;

/// A business case's inputs that cannot be computed on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseError {
    #[error("discount rate {0} must be greater than -1 (0.08 for 8%)")]
    Rate(f64),
    #[error("{0} years: a case spans 1 to {MAX_YEARS} years")]
    Years(usize),
    #[error("cash flow of year {0} is not a finite number")]
    NotFinite(usize),
}

fn check(rate: f64, flows: &[f64]) -> Result<(), CaseError> {
    if !(rate.is_finite() && rate > -1.0) {
        return Err(CaseError::Rate(rate));
    }
    if flows.is_empty() || flows.len() > MAX_YEARS + 1 {
        return Err(CaseError::Years(flows.len()));
    }
    if let Some(t) = flows.iter().position(|v| !v.is_finite()) {
        return Err(CaseError::NotFinite(t));
    }
    Ok(())
}

/// Σₜ CFₜ / (1 + r)ᵗ, year 0 undiscounted (as `numpy_financial.npv`).
pub fn npv(rate: f64, flows: &[f64]) -> Result<f64, CaseError> {
    check(rate, flows)?;
    Ok(flows
        .iter()
        .enumerate()
        .map(|(t, v)| v / (1.0 + rate).powi(t as i32))
        .sum())
}

/// Return on investment: (PV of benefits − PV of costs) ÷ PV of costs, each
/// a stream of non-negative yearly amounts; `None` without costs.
pub fn roi(rate: f64, costs: &[f64], benefits: &[f64]) -> Result<Option<f64>, CaseError> {
    let pv_costs = npv(rate, costs)?;
    let pv_benefits = npv(rate, benefits)?;
    Ok((pv_costs > 0.0).then(|| (pv_benefits - pv_costs) / pv_costs))
}

/// Years until the cumulative (undiscounted, or discounted at `rate` when
/// given) net cash flow first reaches zero, interpolating linearly within
/// the year it turns; `Some(0.0)` when it never goes below zero, `None`
/// when it does not recover within the case.
pub fn payback_years(flows: &[f64], rate: Option<f64>) -> Result<Option<f64>, CaseError> {
    check(rate.unwrap_or(0.0), flows)?;
    let r = rate.unwrap_or(0.0);
    let mut cumulative = 0.0;
    for (t, v) in flows.iter().enumerate() {
        let flow = v / (1.0 + r).powi(t as i32);
        let before = cumulative;
        cumulative += flow;
        if t == 0 {
            if cumulative >= 0.0 {
                return Ok(Some(0.0));
            }
            continue;
        }
        if before < 0.0 && cumulative >= 0.0 {
            // Within year t: the share of this year's flow that repays the rest.
            return Ok(Some((t - 1) as f64 + (-before / flow)));
        }
    }
    Ok(None)
}
