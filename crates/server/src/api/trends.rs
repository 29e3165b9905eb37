//! `GET /api/v1/trends`: a metric by day, week or month with control
//! limits (`northstar_core::trends`), from the rollups.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use northstar_core::Metric;
use northstar_core::calendar::{self, Day};
use northstar_core::rollup::{CubeQuery, GroupBy};
use northstar_core::trends::{self, Interval, Signal};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::{Period, Selection};
use crate::{AppState, params};
use northstar_store::Store;

/// Most periods one trend shows: of a longer range asked for, the last
/// this many (and a `note` says so); the default range shows fewer.
pub const MAX_TREND_PERIODS: i64 = 400;

/// Periods shown when the request gives no `from`: the last 90 days, 26
/// weeks or 24 months up to the last day with data (or `to`).
fn default_periods(interval: Interval) -> i64 {
    match interval {
        Interval::Day => 90,
        Interval::Week => 26,
        Interval::Month => 24,
    }
}

/// A period-over-period change with its test.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodChangeView {
    /// This period minus the previous period shown, on the metric's scale.
    pub difference: f64,
    /// z (Welch's t for CES).
    pub statistic: f64,
    pub p_value: f64,
    pub method: &'static str,
}

/// One period of a trend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendPeriod {
    /// `2025-01-31` (day), `2025-W03` (ISO week), `2025-01` (month).
    pub period: String,
    pub n: i64,
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub lcl: Option<f64>,
    pub ucl: Option<f64>,
    /// `above` or `below` the control limits (signal), or `none` (noise).
    #[schema(value_type = String, example = "none")]
    pub signal: Signal,
    pub change: Option<PeriodChangeView>,
}

/// A metric over time with its control limits and provenance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendReport {
    #[schema(value_type = String, example = "nps")]
    pub metric: Metric,
    pub title: &'static str,
    pub scale: &'static str,
    /// `day`, `week` or `month`.
    #[schema(value_type = String, example = "month")]
    pub interval: Interval,
    /// The value pooled over every period shown.
    pub centre: Option<f64>,
    /// σ of one answer from the pooled answers.
    pub sigma: Option<f64>,
    pub periods: Vec<TrendPeriod>,
    /// Periods outside their control limits.
    pub signals: usize,
    /// Answers over all periods shown.
    pub n: i64,
    /// The control-chart construction.
    pub method: &'static str,
    /// How each period's own interval is computed.
    pub interval_method: &'static str,
    pub confidence: f64,
    pub filter: BTreeMap<String, Vec<String>>,
    /// The days covered: the range asked for (or the default), widened to
    /// whole periods.
    pub from: String,
    pub to: String,
    pub requested_from: Option<String>,
    pub requested_to: Option<String>,
    /// The first and last day (organisation's time zone) with an answer to the metric among the
    /// periods shown.
    pub period: Period,
    pub restricted_to: Option<String>,
    /// Names the time zone whose calendar days the periods are.
    pub source: String,
    /// Set when the range asked for held more than 400 periods and only
    /// the last 400 are shown.
    pub note: Option<String>,
}

/// The first day of the period `day` falls in.
fn period_start(interval: Interval, day: Day) -> Day {
    match interval {
        Interval::Day => day,
        Interval::Week => calendar::week_start(day),
        Interval::Month => calendar::first_day_of_month(calendar::month_of_day(day)),
    }
}

/// The last day of the period `day` falls in.
fn period_end(interval: Interval, day: Day) -> Day {
    match interval {
        Interval::Day => day,
        Interval::Week => calendar::week_start(day).saturating_add(6),
        Interval::Month => calendar::last_day_of_month(calendar::month_of_day(day)),
    }
}

/// The start of the period `count − 1` periods before the one `day` is in.
fn periods_back(interval: Interval, day: Day, count: i64) -> Day {
    let back = |d: i64| Day::try_from(i64::from(day) - d).unwrap_or(Day::MIN);
    match interval {
        Interval::Day => back(count - 1),
        Interval::Week => calendar::week_start(back(7 * (count - 1))),
        Interval::Month => {
            let m = i64::from(calendar::month_of_day(day)) - (count - 1);
            calendar::first_day_of_month(i32::try_from(m).unwrap_or(i32::MIN))
        }
    }
}

/// How many periods `from..=to` (period-aligned) spans.
fn period_count(interval: Interval, from: Day, to: Day) -> i64 {
    match interval {
        Interval::Day => i64::from(to) - i64::from(from) + 1,
        Interval::Week => (i64::from(to) - i64::from(from)) / 7 + 1,
        Interval::Month => {
            i64::from(calendar::month_of_day(to)) - i64::from(calendar::month_of_day(from)) + 1
        }
    }
}

/// Computes the trend of `metric` for a selection.
pub async fn trend_report(
    store: &dyn Store,
    metric: Metric,
    interval: Interval,
    selection: &Selection,
) -> Result<TrendReport, ApiError> {
    // Days, weeks and months are the organisation's time zone's.
    let (zone_name, zone) = northstar_store::settings::time_zone(store.backend()).await?;
    // The range: as asked, else ending on the last day with an answer.
    let to = match selection.to {
        Some(t) => t,
        None => {
            let everything = store.query_rollups(&selection.query(None)).await?;
            match everything.span(metric) {
                Some((_, last)) => selection.from.map_or(last, |f| last.max(f)),
                None => calendar::day_in(crate::auth::now_unix(), &zone),
            }
        }
    };
    let from = selection
        .from
        .unwrap_or_else(|| periods_back(interval, to, default_periods(interval)));
    let (mut from, to) = (period_start(interval, from), period_end(interval, to));
    let count = period_count(interval, from, to);
    let mut note = None;
    if count > MAX_TREND_PERIODS {
        from = periods_back(interval, to, MAX_TREND_PERIODS);
        note = Some(format!(
            "the range asked for holds {count} {}s; a trend shows at most {MAX_TREND_PERIODS} periods, so this one shows the last {MAX_TREND_PERIODS} (from {}): ask for a coarser interval to see the whole range",
            interval.as_str(),
            calendar::day_label(from)
        ));
    }
    let group_by = match interval {
        Interval::Day => GroupBy::Day,
        Interval::Week => GroupBy::Week,
        Interval::Month => GroupBy::Month,
    };
    let answer = store
        .query_rollups(&CubeQuery {
            filter: selection.effective_filter(),
            from: Some(from),
            to: Some(to),
            group_by: Some(group_by),
        })
        .await?;
    let period = Period::of(answer.span(metric), selection);
    let periods: Vec<(String, northstar_core::ResponseSummary)> = answer
        .groups
        .into_iter()
        .map(|g| (g.key, g.summary))
        .collect();
    let chart = trends::control_chart(metric, &periods);
    Ok(TrendReport {
        metric,
        title: metric.title(),
        scale: metric.scale(),
        interval,
        centre: chart.centre,
        sigma: chart.sigma,
        n: chart.periods.iter().map(|p| p.n).sum(),
        signals: chart.signals,
        periods: chart
            .periods
            .into_iter()
            .map(|p| TrendPeriod {
                period: p.period,
                n: p.n,
                value: p.value,
                ci_low: p.ci_low,
                ci_high: p.ci_high,
                lcl: p.lcl,
                ucl: p.ucl,
                signal: p.signal,
                change: p.change.map(|c| PeriodChangeView {
                    difference: c.difference,
                    statistic: c.statistic,
                    p_value: c.p_value,
                    method: c.method,
                }),
            })
            .collect(),
        method: chart.method,
        interval_method: metric.method(),
        confidence: northstar_core::estimate::CONFIDENCE,
        filter: selection.filter_map(),
        from: calendar::day_label(from),
        to: calendar::day_label(to),
        requested_from: selection.from.map(calendar::day_label),
        requested_to: selection.to.map(calendar::day_label),
        period,
        restricted_to: selection.restricted_to.clone(),
        source: format!(
            "daily rollups of raw responses (calendar days in {zone_name}, the organisation's time zone; ISO weeks start on Monday), merged in memory"
        ),
        note,
    })
}

/// A metric by day, week or month with Shewhart control limits: points
/// outside the limits are signal, the rest noise; each period with its own
/// 95% interval and its change from the previous period with a test.
#[utoipa::path(
    get,
    path = "/api/v1/trends",
    params(super::doc::TrendDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "The trend with control limits and provenance", body = TrendReport),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_trends(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<TrendReport>, ApiError> {
    Ok(Json(trends_for(&state, &principal, &pairs).await?))
}

/// The trend a request asks for (JSON, CSV and the page share it).
pub async fn trends_for(
    state: &AppState,
    principal: &Principal,
    pairs: &[(String, String)],
) -> Result<TrendReport, ApiError> {
    params::reject_empty(pairs, &["metric", "interval", "from", "to"])?;
    let p = params::parse(pairs, &["metric", "interval"], &principal.scope)?;
    let metric = p.metric.ok_or_else(|| {
        ApiError::parameter("metric", "is required; use one of nps, csat, ces, fcr")
    })?;
    let interval = params::interval(pairs)?.unwrap_or(Interval::Month);
    trend_report(&*state.store, metric, interval, &p.selection).await
}

/// The same trend as CSV (the page's table): one row per period with its
/// control limits, signal and change, each row with its provenance.
#[utoipa::path(
    get,
    path = "/api/v1/trends.csv",
    params(super::doc::TrendDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "CSV with provenance columns", body = String, content_type = "text/csv"),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_trends_csv(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<axum::response::Response, ApiError> {
    let r = trends_for(&state, &principal, &pairs).await?;
    let filter = crate::report::describe_filter(&r.filter);
    let mut w = super::csv_export::Table::new(&[
        "metric",
        "interval",
        "period",
        "n",
        "value",
        "ci_low",
        "ci_high",
        "centre",
        "lcl",
        "ucl",
        "signal",
        "change",
        "change_statistic",
        "change_p_value",
        "change_test",
        "confidence",
        "interval_method",
        "chart_method",
        "filter",
        "period_from",
        "period_to",
        "restricted_to",
    ])?;
    use super::csv_export::{num, text};
    for p in &r.periods {
        let c = p.change.as_ref();
        w.row(&[
            r.metric.as_str().into(),
            r.interval.as_str().into(),
            p.period.as_str().into(),
            p.n.to_string().into(),
            num(p.value),
            num(p.ci_low),
            num(p.ci_high),
            num(r.centre),
            num(p.lcl),
            num(p.ucl),
            super::csv_export::signal_name(p.signal).into(),
            num(c.map(|c| c.difference)),
            num(c.map(|c| c.statistic)),
            num(c.map(|c| c.p_value)),
            c.map_or("", |c| c.method).into(),
            r.confidence.to_string().into(),
            r.interval_method.into(),
            r.method.into(),
            text(&filter),
            r.period.from.clone().unwrap_or_default().into(),
            r.period.to.clone().unwrap_or_default().into(),
            text(r.restricted_to.as_deref().unwrap_or("")),
        ])?;
    }
    w.finish(
        &*state.store,
        &principal,
        "trends.csv",
        &format!(
            "{} by {}, filter {filter}",
            r.metric.as_str(),
            r.interval.as_str()
        ),
        &format!("northstar-trend-{}.csv", r.metric.as_str()),
    )
    .await
}
