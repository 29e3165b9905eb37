//! `GET /api/v1/power`: respondents per group a pilot needs to detect a
//! minimum effect (`northstar_core::power`, checked against statsmodels).

use axum::Json;
use northstar_core::power::{self, PowerError, SampleSize};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::params;

/// The sample size with what it was computed from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PowerReport {
    /// Respondents each group (pilot and control) needs, rounded up.
    pub n_per_group: u64,
    /// The exact root of the power equation.
    pub n_exact: f64,
    /// The standardised effect size (Cohen's h; for NPS mde / σ of one answer).
    pub effect_size: f64,
    pub method: &'static str,
    pub metric: String,
    pub baseline: String,
    pub mde: f64,
    pub alpha: f64,
    pub power: f64,
}

const NAMES: [&str; 5] = ["metric", "baseline", "mde", "alpha", "power"];

fn one<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut found = None;
    for (_, v) in pairs.iter().filter(|(n, _)| n == name) {
        if found.is_some() {
            return Err(ApiError::parameter(name, "is given twice; give it once"));
        }
        found = Some(v.trim());
    }
    Ok(found)
}

fn number(name: &str, text: &str) -> Result<f64, ApiError> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| ApiError::parameter(name, format!("{text:?} is not a number")))
}

/// Respondents per group for a pilot against its control: a two-sided
/// z-test of equal groups (statsmodels `NormalIndPower`), with Cohen's h for
/// CSAT (satisfied share) and FCR, and for NPS the trinomial variance of one
/// answer. For NPS `baseline` is `promoters,detractors` (shares) and `mde`
/// is in points; for CSAT and FCR both are shares (0.70, 0.05).
#[utoipa::path(
    get,
    path = "/api/v1/power",
    params(
        ("metric" = String, Query, description = "nps, csat or fcr"),
        ("baseline" = String, Query, description = "NPS: promoters,detractors shares (0.45,0.20); CSAT/FCR: the share (0.70)"),
        ("mde" = f64, Query, description = "The smallest difference to detect: NPS points (5); CSAT/FCR a share (0.05)"),
        ("alpha" = Option<f64>, Query, description = "Significance level, default 0.05"),
        ("power" = Option<f64>, Query, description = "Power, default 0.8"),
    ),
    responses(
        (status = 200, description = "Respondents per group", body = PowerReport),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_power(
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<PowerReport>, ApiError> {
    if let Some((name, _)) = pairs.iter().find(|(n, _)| !NAMES.contains(&n.as_str())) {
        return Err(ApiError::parameter(
            name,
            "unknown parameter; use metric, baseline, mde, alpha and power",
        ));
    }
    let metric = one(&pairs, "metric")?
        .ok_or_else(|| ApiError::parameter("metric", "is required: nps, csat or fcr"))?
        .to_string();
    let baseline = one(&pairs, "baseline")?
        .ok_or_else(|| {
            ApiError::parameter(
                "baseline",
                "is required: for NPS promoters,detractors (0.45,0.20); for CSAT or FCR the share (0.70)",
            )
        })?
        .to_string();
    let mde = number(
        "mde",
        one(&pairs, "mde")?.ok_or_else(|| {
            ApiError::parameter(
                "mde",
                "is required: NPS points (5) or a share difference (0.05)",
            )
        })?,
    )?;
    let alpha = one(&pairs, "alpha")?.map_or(Ok(0.05), |v| number("alpha", v))?;
    let power_level = one(&pairs, "power")?.map_or(Ok(0.8), |v| number("power", v))?;
    let invalid = |e: PowerError| match e {
        PowerError::Input { field, message } => ApiError::parameter(field, message),
    };
    let size: SampleSize = match metric.as_str() {
        "nps" => {
            let parts: Vec<&str> = baseline.split(',').map(str::trim).collect();
            let [p, d] = parts.as_slice() else {
                return Err(ApiError::parameter(
                    "baseline",
                    "for NPS give promoters,detractors as shares, like 0.45,0.20",
                ));
            };
            power::nps(
                number("baseline", p)?,
                number("baseline", d)?,
                mde,
                alpha,
                power_level,
            )
            .map_err(invalid)?
        }
        "csat" | "fcr" => {
            power::proportion(number("baseline", &baseline)?, mde, alpha, power_level)
                .map_err(invalid)?
        }
        other => {
            return Err(ApiError::parameter(
                "metric",
                format!("{other:?} has no power calculation; use nps, csat or fcr"),
            ));
        }
    };
    Ok(Json(PowerReport {
        n_per_group: size.n_per_group,
        n_exact: size.n_exact,
        effect_size: size.effect_size,
        method: size.method,
        metric,
        baseline,
        mde,
        alpha,
        power: power_level,
    }))
}
