//! The persistence seam: a [`Backend`] only persists. A write returns its
//! rollup deltas; the deltas committed since a [`CubePosition`] can be read
//! back. The backend-neutral [`crate::cached::CachedStore`]
//! holds the in-memory cube on top, so that a second database is only SQL.

use async_trait::async_trait;
use northstar_core::calendar::Day;
use northstar_core::customer::NewCustomer;
use northstar_core::operation::NewOperation;
use northstar_core::response::NewResponse;
use northstar_core::{Dimension, DimensionValues, ResponseSummary};

use crate::accounts::{ApiToken, AuditEntry, AuditQuery, NewUser, Session, User, UserChange};
use crate::settings::Setting;
use crate::{RollupCell, StoreCounts, StoreError, StoreResult, WriteSummary};
use northstar_core::account::Role;

/// Where a cube stands in the history of rollup writes: which writes its
/// cells include. Made and read only by the backend that wrote the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CubePosition {
    /// SQLite: writes are serial (one writer at a time), so a counter that
    /// every write bumps orders them.
    Serial(i64),
    /// PostgreSQL: writers commit concurrently and in any order, so the cube
    /// remembers the snapshot it was read at (`xmin:xmax:xip,…`, see
    /// `pg_current_snapshot`) and the writes of its own process applied
    /// since (their transaction ids). A write is in the cube when its
    /// transaction is visible in the snapshot or listed.
    Snapshot { snapshot: String, applied: Vec<u64> },
}

/// The rollup deltas one committed write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupDelta {
    /// Which write: the version it produced (SQLite) or its transaction id
    /// (PostgreSQL).
    pub id: i64,
    pub cells: Vec<RollupCell>,
}

/// What a response write did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponsesWritten {
    pub summary: WriteSummary,
    /// `None` when no rollup changed (nothing new, or only unchanged rows).
    pub delta: Option<RollupDelta>,
}

/// The writes committed since a position, or why they cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltasSince {
    /// Nothing was committed since.
    Current,
    /// Every write committed since, and the position after them.
    Replay {
        deltas: Vec<RollupDelta>,
        to: CubePosition,
    },
    /// The log no longer covers the gap (pruned, or the rollups were
    /// rebuilt): load the whole rollup table instead.
    Reload,
}

/// Versions of the data a cached figure depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataVersions {
    /// Grows with every write that changes responses (hence rollups).
    pub rollups: i64,
    /// Grows with every write that changes customers.
    pub customers: i64,
    /// Grows with every write that changes operational records or their
    /// links to responses (`gap_cells`).
    pub operations: i64,
}

/// An attribute that is not a rollup dimension, to break responses down by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BreakdownAttribute {
    /// A column of the responses file Northstar keeps as an attribute.
    Response(String),
    /// The answering customer's region (customers file).
    CustomerRegion,
    /// The answering customer's segment as the customers file gives it.
    CustomerSegment,
    /// Another column of the customers file, kept as a customer attribute.
    Customer(String),
}

impl BreakdownAttribute {
    /// The name as a `by` parameter spells it.
    pub fn name(&self) -> String {
        match self {
            Self::Response(n) => format!("attribute.{n}"),
            Self::CustomerRegion => "customer.region".into(),
            Self::CustomerSegment => "customer.segment".into(),
            Self::Customer(n) => format!("customer.{n}"),
        }
    }

    /// The attribute's source, for provenance.
    pub fn source(&self) -> &'static str {
        match self {
            Self::Response(_) => "an attribute column of the responses",
            _ => {
                "the answering customer's record (customers file), joined by customer_id; anonymous responses fall under \"\""
            }
        }
    }
}

/// Which linked records an expectation gap covers: the operational records
/// of one department and measure, joined by order_id to the responses of a
/// selection (the response's own department is not a condition: a support
/// survey about a delivered order still speaks about the delivery).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GapQuery {
    pub department: String,
    pub measure: String,
    /// Responses' dimension filter (no department) and UTC days.
    pub responses: RespondentQuery,
}

/// An expectation gap's inputs as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GapCounts {
    /// Per distinct measure value: (value, satisfied answers, CSAT answers),
    /// in value order.
    pub by_value: Vec<(f64, i64, i64)>,
    /// The department's own target for the measure as its records carry it:
    /// the most common one (ties: the smallest), and on how many records.
    pub target: Option<(f64, i64)>,
    /// Records of the measure with a different target than the most common.
    pub other_targets: i64,
    /// The first and last day (organisation's time zone) of the responses
    /// linked (the data's period); none without linked records.
    pub period: Option<(Day, Day)>,
}

impl GapCounts {
    /// Gathers rows of (value, satisfied, answers, first day, last day) as
    /// both backends select them.
    pub(crate) fn from_rows(rows: Vec<(f64, i64, i64, i64, i64)>, targets: &[(f64, i64)]) -> Self {
        let period = rows
            .iter()
            .map(|r| (r.3, r.4))
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
            .map(|(first, last)| {
                (
                    Day::try_from(first).unwrap_or(Day::MIN),
                    Day::try_from(last).unwrap_or(Day::MAX),
                )
            });
        GapCounts {
            by_value: rows.into_iter().map(|r| (r.0, r.1, r.2)).collect(),
            target: targets.first().copied(),
            other_targets: targets.iter().skip(1).map(|t| t.1).sum(),
            period,
        }
    }
}

/// One `gap_cells` row: (department, measure, value, the response's day and
/// dimensions, satisfied answers (CSAT 4–5), CSAT answers).
pub type GapCell = (String, String, f64, Day, DimensionValues, i64, i64);
/// One `operation_targets` row: (department, measure, target, records).
pub type TargetCell = (String, String, f64, i64);

/// Sorts gap cells by key (text by bytes, as Rust compares).
pub fn sort_gap_cells(cells: &mut [GapCell]) {
    cells.sort_by(|a, b| {
        (&a.0, &a.1)
            .cmp(&(&b.0, &b.1))
            .then(a.2.total_cmp(&b.2))
            .then_with(|| (a.3, &a.4).cmp(&(b.3, &b.4)))
    });
}

/// Driver moments by the set of drivers each response answered.
#[derive(Debug, Clone, Default)]
pub struct DriverMoments {
    /// Driver names (sorted) → moments of (outcome, drivers…).
    pub by_set: Vec<(Vec<String>, northstar_core::drivers::MomentSummary)>,
    /// The first and last day (organisation's time zone) of the responses
    /// of each set (same order as `by_set`): the period of whatever sets an
    /// analysis merges.
    pub set_days: Vec<(Day, Day)>,
    /// Responses with the outcome but no driver rating.
    pub without_drivers: u64,
    /// Responses left out because their driver set was one too many
    /// (beyond [`MAX_DRIVER_SETS`]) or too large to analyse.
    pub left_out: u64,
}

/// Most distinct driver sets one analysis keeps.
pub const MAX_DRIVER_SETS: usize = 1_000;

impl DriverMoments {
    /// Adds one response: its outcome value, its drivers' ratings and the
    /// day it is counted under.
    pub fn add(
        &mut self,
        outcome: f64,
        drivers: &std::collections::BTreeMap<String, u8>,
        day: Day,
    ) {
        use northstar_core::drivers::{MAX_VARIABLES, MomentSummary};
        if drivers.is_empty() {
            self.without_drivers += 1;
            return;
        }
        if drivers.len() + 1 > MAX_VARIABLES {
            self.left_out += 1;
            return;
        }
        let names: Vec<&String> = drivers.keys().collect();
        let index = match self
            .by_set
            .iter()
            .position(|(set, _)| set.iter().eq(names.iter().copied()))
        {
            Some(i) => i,
            None if self.by_set.len() >= MAX_DRIVER_SETS => {
                self.left_out += 1;
                return;
            }
            None => match MomentSummary::new(drivers.len() + 1) {
                Ok(m) => {
                    self.by_set
                        .push((names.iter().map(|n| n.to_string()).collect(), m));
                    self.set_days.push((day, day));
                    self.by_set.len() - 1
                }
                Err(_) => {
                    self.left_out += 1;
                    return;
                }
            },
        };
        let mut row = Vec::with_capacity(drivers.len() + 1);
        row.push(outcome);
        row.extend(drivers.values().map(|v| f64::from(*v)));
        if self.by_set[index].1.add(&row).is_err() {
            self.left_out += 1;
        } else if let Some(days) = self.set_days.get_mut(index) {
            *days = (days.0.min(day), days.1.max(day));
        }
    }
}

/// Which answer stored driver moments explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MomentOutcome {
    Nps,
    Csat,
}

impl MomentOutcome {
    pub const ALL: [MomentOutcome; 2] = [MomentOutcome::Nps, MomentOutcome::Csat];

    /// As stored in `driver_moments_daily.outcome`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Nps => "nps",
            Self::Csat => "csat",
        }
    }

    pub fn from_code(code: &str) -> StoreResult<Self> {
        match code {
            "nps" => Ok(Self::Nps),
            "csat" => Ok(Self::Csat),
            other => Err(StoreError::Corrupt(format!(
                "driver_moments_daily.outcome is {other:?}, not nps or csat"
            ))),
        }
    }

    /// The outcome a key-driver analysis of `metric` explains (NPS unless CSAT).
    pub fn of(metric: northstar_core::Metric) -> Self {
        match metric {
            northstar_core::Metric::Csat => Self::Csat,
            _ => Self::Nps,
        }
    }

    /// The response's answer to this outcome.
    pub fn value(self, response: &NewResponse) -> Option<f64> {
        match self {
            Self::Nps => response.nps.map(f64::from),
            Self::Csat => response.csat.map(f64::from),
        }
    }
}

/// The drivers a group of responses rated: their names in order (empty:
/// no driver rated, the summary holds the outcome alone), or more than one
/// analysis can take ([`TOO_MANY_DRIVERS`] in storage; outcome alone).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DriverSet {
    Named(Vec<String>),
    TooMany,
}

/// How [`DriverSet::TooMany`] is stored (a JSON array is stored otherwise).
pub const TOO_MANY_DRIVERS: &str = "*";

impl DriverSet {
    /// The text stored in `driver_moments_daily.drivers`.
    pub fn encode(&self) -> String {
        match self {
            Self::Named(names) => serde_json::to_string(names).unwrap_or_else(|_| "[]".into()),
            Self::TooMany => TOO_MANY_DRIVERS.into(),
        }
    }

    pub fn decode(text: &str) -> StoreResult<Self> {
        if text == TOO_MANY_DRIVERS {
            return Ok(Self::TooMany);
        }
        serde_json::from_str(text).map(Self::Named).map_err(|e| {
            StoreError::Corrupt(format!(
                "driver_moments_daily.drivers is not a list of names: {e}"
            ))
        })
    }
}

/// One stored cell of driver moments: a rollup cell's key, the outcome,
/// the driver set, and n, Σ and Σ of products over its complete rows.
pub type MomentCell = (
    Day,
    DimensionValues,
    MomentOutcome,
    DriverSet,
    northstar_core::drivers::MomentSummary,
);

impl DriverMoments {
    /// Merges stored cells (already selected; each with the first and last
    /// day it covers) into the answer a raw scan gives: one summary per driver set, the sets with the most rows kept
    /// when there are more than [`MAX_DRIVER_SETS`].
    pub fn from_cells<'a>(
        cells: impl IntoIterator<
            Item = (
                (Day, Day),
                &'a DriverSet,
                &'a northstar_core::drivers::MomentSummary,
            ),
        >,
    ) -> StoreResult<Self> {
        use northstar_core::drivers::MomentSummary;
        let mut out = Self::default();
        type SetEntry = (MomentSummary, (Day, Day));
        let mut sets: std::collections::HashMap<&'a [String], SetEntry> =
            std::collections::HashMap::new();
        for (days, set, m) in cells {
            let rows = u64::try_from(m.n()).unwrap_or(0);
            match set {
                DriverSet::TooMany => out.left_out += rows,
                DriverSet::Named(names) if names.is_empty() => out.without_drivers += rows,
                DriverSet::Named(names) => {
                    let entry = sets
                        .entry(names.as_slice())
                        .or_insert_with(|| (northstar_core::Mergeable::empty(), days));
                    entry.0.try_merge(m).map_err(|e| {
                        StoreError::Corrupt(format!("driver moments of {names:?}: {e}"))
                    })?;
                    entry.1 = (entry.1.0.min(days.0), entry.1.1.max(days.1));
                }
            }
        }
        let mut by_set: Vec<(Vec<String>, SetEntry)> = sets
            .into_iter()
            .filter(|(_, (m, _))| m.n() != 0)
            .map(|(names, entry)| (names.to_vec(), entry))
            .collect();
        by_set.sort_by(|a, b| b.1.0.n().cmp(&a.1.0.n()).then_with(|| a.0.cmp(&b.0)));
        for (_, (m, _)) in by_set.iter().skip(MAX_DRIVER_SETS) {
            out.left_out += u64::try_from(m.n()).unwrap_or(0);
        }
        by_set.truncate(MAX_DRIVER_SETS);
        out.set_days = by_set.iter().map(|(_, (_, days))| *days).collect();
        out.by_set = by_set
            .into_iter()
            .map(|(names, (m, _))| (names, m))
            .collect();
        Ok(out)
    }
}

/// How revenue at risk splits customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoyaltyBy {
    /// Each department's customers, by their latest NPS answer filed under
    /// that department (a customer may count in several departments).
    Department,
    /// The customer's segment (customers file, else the response's).
    Segment,
}

/// The largest groups of a breakdown by attribute, and whether more exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeSummaries {
    /// Value ("" when absent) and the summary of its responses, largest
    /// first (ties by value).
    pub groups: Vec<(String, ResponseSummary)>,
    /// More values exist than the limit asked for.
    pub truncated: bool,
}

/// Who answered in a selection, counted as distinct respondents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RespondentCounts {
    /// Distinct respondents per segment (the customer's segment from the
    /// customers table; the response's own where the customer is unknown).
    pub by_segment: Vec<(String, u64)>,
    /// Respondents counted under their response's segment because their
    /// customer_id is not among the customers.
    pub segment_from_response: u64,
    /// Answers without a customer_id, each counted as one respondent.
    pub anonymous: u64,
}

/// Which responses a respondent count covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RespondentQuery {
    /// Several values of one dimension mean any of them.
    pub filter: Vec<(Dimension, String)>,
    pub from: Option<Day>,
    pub to: Option<Day>,
}

/// Which responses to list, newest first (the comments page and API).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseListQuery {
    /// As for respondents: several values of one dimension mean any of
    /// them; from/to are inclusive UTC days of submitted_at.
    pub selection: RespondentQuery,
    /// Only responses with a non-empty comment.
    pub with_comment: bool,
    /// Keyset cursor: responses strictly older than (submitted_unix,
    /// external_id) in the order (submitted_unix DESC, external_id DESC).
    pub before: Option<(i64, String)>,
    /// At most this many; the store caps it at [`MAX_RESPONSE_PAGE`].
    pub limit: u32,
}

/// Most responses one list read returns.
pub const MAX_RESPONSE_PAGE: u32 = 500;

/// What an erasure removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    pub responses: u64,
    pub customers: u64,
    pub operations: u64,
    /// Survey invitations (they hold the customer's address).
    pub invitations: u64,
}

/// One batch of retention's anonymisation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnonymisedBatch {
    /// Responses looked at (anonymised now or before).
    pub looked_at: u64,
    /// The external_id of the last response looked at: the cursor of the
    /// next batch.
    pub last: Option<String>,
    pub responses: u64,
    pub operations: u64,
    /// Survey invitations made before the cutoff, deleted (at most the
    /// batch's limit).
    pub invitations: u64,
}

/// What a change of time zone (or a rebuild) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TimeZoneChanged {
    /// Responses whose stored day changed (re-bucketed).
    pub rebucketed: u64,
    /// Rollup cells after the rebuild.
    pub cells: u64,
}

/// What an erasure did, with the rollup delta it committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErasureWritten {
    pub erased: Erased,
    pub delta: Option<RollupDelta>,
}

/// Persistence only: SQL, no caches. Object-safe.
#[async_trait]
pub trait Backend:
    crate::departments::DepartmentRecords
    + crate::value_records::ValueRecords
    + crate::survey_records::SurveyRecords
    + Send
    + Sync
    + 'static
{
    async fn migrate(&self) -> StoreResult<()>;
    async fn check_ready(&self) -> StoreResult<()>;

    /// Inserts or replaces responses by `external_id` (each id at most once
    /// per batch) and updates the rollups and the delta log in the same
    /// transaction; returns after the commit. With `redact`, the setting
    /// [`crate::settings::REDACT_PERSONAL_DATA`] is read in that transaction
    /// and, when on, comments and attribute values are masked first.
    async fn write_responses(
        &self,
        batch: Vec<NewResponse>,
        redact: bool,
    ) -> StoreResult<ResponsesWritten>;
    async fn response(&self, external_id: &str) -> StoreResult<Option<NewResponse>>;
    /// Removes a customer's responses (their rollup counts decremented
    /// exactly, the delta logged like a write's), its customer record (and
    /// its count per segment), its operational records, its pilot
    /// assignments and its survey invitations, in one transaction.
    async fn erase_customer(&self, customer_id: &str) -> StoreResult<ErasureWritten>;
    /// Looks at up to `limit` responses submitted before `before_unix`,
    /// after the cursor `after` in the order of external_id, and
    /// clears customer_id, comment, order_id and attributes of those that
    /// still carry any; and clears customer_id of up to `limit` operational
    /// records that occurred before it; and deletes up to `limit` survey
    /// invitations made before it. Scores and dimensions stay, so
    /// rollups do not change. The cursor makes a whole run read each old
    /// response once, however many were anonymised before.
    async fn anonymise_before(
        &self,
        before_unix: i64,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<AnonymisedBatch>;
    /// Responses newest first (filter values already storable).
    async fn list_responses(&self, query: &ResponseListQuery) -> StoreResult<Vec<NewResponse>>;
    /// Inserts or replaces customers by `customer_id` (each at most once per
    /// batch) and keeps the customer counts per segment in step.
    async fn write_customers(&self, batch: Vec<NewCustomer>) -> StoreResult<WriteSummary>;
    /// Inserts or replaces operational records by (department, order_id,
    /// measure), each key at most once per batch.
    async fn write_operations(&self, batch: Vec<NewOperation>) -> StoreResult<WriteSummary>;

    /// The rollup and customer versions (one small read). Any committed
    /// write changes them.
    async fn data_versions(&self) -> StoreResult<DataVersions>;
    /// The whole rollup table and the position it reflects, read in one
    /// snapshot.
    async fn load_rollups(&self) -> StoreResult<(CubePosition, Vec<RollupCell>)>;
    /// The deltas of every write committed after `position` (one small read
    /// when there are none).
    async fn rollup_deltas_since(&self, position: &CubePosition) -> StoreResult<DeltasSince>;
    /// The position of a cube at `position` once this process's own
    /// committed `delta` is added to it, or `None` when the delta is already
    /// in it or cannot be placed (the next catch-up replays it instead).
    fn position_after(&self, position: &CubePosition, delta: &RollupDelta) -> Option<CubePosition>;

    /// True when two writes can make progress at once (separate
    /// connections and transactions); false for a single writer, where an
    /// import writes one batch at a time so that what a kill leaves is
    /// always the file's first batches.
    fn writes_in_parallel(&self) -> bool {
        false
    }

    /// Customers per segment, leaving out those who churned before
    /// `active_from` (customers without a churn date always count).
    async fn customer_segments(&self, active_from: Option<Day>) -> StoreResult<Vec<(String, u64)>>;
    /// Distinct respondents with an NPS answer in a selection, per segment.
    async fn respondents_by_segment(
        &self,
        query: &RespondentQuery,
    ) -> StoreResult<RespondentCounts>;

    /// Replaces the rollup table by a rebuild from raw responses; returns
    /// the number of cells.
    /// Response summaries of a selection by an attribute that is not a
    /// rollup dimension: the `limit` values with the most responses.
    async fn attribute_summaries(
        &self,
        query: &RespondentQuery,
        attribute: &BreakdownAttribute,
        limit: usize,
    ) -> StoreResult<AttributeSummaries>;
    /// The CSAT answers about one department's records of one measure, by
    /// the measure's value (satisfied = CSAT 4–5), and the target.
    async fn gap_counts(&self, query: &GapQuery) -> StoreResult<GapCounts>;
    /// Customers by loyalty group (their latest NPS answer in the selection:
    /// 9–10 promoter, 7–8 passive, 0–6 detractor) with their churn flags and
    /// annual values; one entry per group key ("" without `by`).
    async fn loyalty_customers(
        &self,
        query: &RespondentQuery,
        by: Option<LoyaltyBy>,
    ) -> StoreResult<Vec<(String, northstar_core::revenue::LoyaltyCustomers)>>;
    /// Respondents who are known customers, in cells of the customers'
    /// values of `attributes` (customer attributes only; "" when a customer
    /// has none), with the summary of their responses in the selection; at
    /// most `limit` + 1 cells (more means too many combinations).
    async fn respondent_cells(
        &self,
        query: &RespondentQuery,
        attributes: &[BreakdownAttribute],
        limit: usize,
    ) -> StoreResult<Vec<northstar_core::weighting::RespondentCell>>;
    /// Customers per value of one customer attribute ("" when none), not
    /// counting those who churned before `active_from`; at most `limit` + 1.
    async fn customer_margin(
        &self,
        attribute: &BreakdownAttribute,
        active_from: Option<Day>,
        limit: usize,
    ) -> StoreResult<Vec<(String, u64)>>;
    /// Moment summaries (outcome first, then the drivers in name order) of
    /// the responses in a selection that answered `outcome` (NPS or CSAT),
    /// one per set of drivers answered; see [`DriverMoments`]. Read from
    /// the raw responses (a scan): the reference that the stored
    /// `driver_moments_daily` cells, which the store answers from, are
    /// checked against.
    async fn driver_moments(
        &self,
        query: &RespondentQuery,
        outcome: northstar_core::Metric,
    ) -> StoreResult<DriverMoments>;
    /// The non-zero `gap_cells` of one (department, measure), or of all;
    /// `from_raw`: the same computed by joining the raw rows (the reference
    /// the maintained cells are checked against). Sorted.
    async fn gap_cells(
        &self,
        of: Option<(&str, &str)>,
        from_raw: bool,
    ) -> StoreResult<Vec<GapCell>>;
    /// The non-zero `operation_targets` of one (department, measure), or of
    /// all; `from_raw`: counted from the records. Sorted.
    async fn operation_targets(
        &self,
        of: Option<(&str, &str)>,
        from_raw: bool,
    ) -> StoreResult<Vec<TargetCell>>;
    /// Up to `limit` responses after `after` (by external_id) with their
    /// customers' region, segment and attributes, to build the in-memory
    /// attribute cells.
    async fn attribute_rows_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<crate::attribute_cells::AttributeRow>>;
    /// The driver-moment cells computed from the raw responses (the
    /// reference the stored cells are checked against), sorted.
    async fn driver_moment_cells_from_raw(&self) -> StoreResult<Vec<MomentCell>>;
    /// Every stored driver-moment cell (`driver_moments_daily`).
    async fn driver_moment_cells(&self) -> StoreResult<Vec<MomentCell>>;
    /// Re-derives every response's stored day in the organisation's time
    /// zone (a page at a time) and replaces the rollup table by a rebuild
    /// from raw responses, in one transaction; returns the number of cells.
    async fn rebuild_rollups(&self) -> StoreResult<u64>;
    /// The stored rollup cells, sorted.
    async fn rollup_cells(&self) -> StoreResult<Vec<RollupCell>>;
    /// The stored rollup cells of days `from..=to` that pass `filter`
    /// (several values of one dimension mean any of them): the day cells a
    /// cube that keeps only recent days needs for an older question.
    async fn rollup_cells_between(
        &self,
        from: Day,
        to: Day,
        filter: &[(Dimension, String)],
    ) -> StoreResult<Vec<RollupCell>>;
    /// The rollup cells recomputed from raw responses, sorted.
    async fn rollup_cells_from_raw(&self) -> StoreResult<Vec<RollupCell>>;
    async fn counts(&self) -> StoreResult<StoreCounts>;

    /// Creates an account; `StoreError::Exists` when the e-mail is taken.
    async fn insert_user(&self, user: &NewUser, now_unix: i64) -> StoreResult<User>;
    /// Every account, by e-mail.
    async fn users(&self) -> StoreResult<Vec<User>>;
    /// An account and its password hash, by (normalised) e-mail.
    async fn user_with_hash(&self, email: &str) -> StoreResult<Option<(User, String)>>;
    /// Changes an account; `None` when there is none with this e-mail. A
    /// change of role, password or a disabling ends the account's sessions.
    /// `StoreError::Refused` when it would leave no active admin (checked in
    /// the same transaction, so two admins cannot demote each other at once).
    async fn update_user(
        &self,
        email: &str,
        change: &UserChange,
        now_unix: i64,
    ) -> StoreResult<Option<User>>;
    /// Admin accounts that are not disabled.
    async fn active_admins(&self) -> StoreResult<u64>;
    /// Stores a session under the hash of its token.
    async fn insert_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        now_unix: i64,
    ) -> StoreResult<()>;
    /// The session with this token hash, if its account is not disabled.
    async fn session(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    /// Records that a session was used now.
    async fn touch_session(&self, token_hash: &str, now_unix: i64) -> StoreResult<()>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Deletes sessions idle since before `idle_before` or created before
    /// `created_before`; returns how many.
    async fn delete_expired_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> StoreResult<u64>;

    /// Stores an API token by the hash of its secret; `StoreError::Exists`
    /// when the name is taken.
    async fn insert_api_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        department: Option<&str>,
        now_unix: i64,
    ) -> StoreResult<ApiToken>;
    /// Every API token, revoked ones included, by name.
    async fn api_tokens(&self) -> StoreResult<Vec<ApiToken>>;
    /// The token whose secret hashes to `token_hash`, unless revoked, and
    /// its last use before this one. Its last use is recorded as `now_unix`
    /// when the stored one is [`crate::accounts::TOKEN_USE_GRANULARITY`]
    /// old or more (a read per request, at most a write per minute).
    async fn use_api_token(
        &self,
        token_hash: &str,
        now_unix: i64,
    ) -> StoreResult<Option<(ApiToken, Option<i64>)>>;
    /// Revokes a token by name; `None` when there is none (or it was
    /// revoked before).
    async fn revoke_api_token(&self, name: &str, now_unix: i64) -> StoreResult<Option<ApiToken>>;

    /// Records a failed sign-in under each key (account, address) and
    /// forgets failures older than `forget_before`.
    async fn record_sign_in_failure(
        &self,
        keys: &[String],
        now_unix: i64,
        forget_before: i64,
    ) -> StoreResult<()>;
    /// Failed sign-ins under `key` since `since_unix`.
    async fn sign_in_failures(&self, key: &str, since_unix: i64) -> StoreResult<u64>;
    /// Forgets the failures under `key` (after a successful sign-in).
    async fn clear_sign_in_failures(&self, key: &str) -> StoreResult<()>;

    /// Every API token with the hash of its secret (for `copy`).
    async fn api_token_hashes(&self) -> StoreResult<Vec<(ApiToken, String)>>;
    /// Stores a copied token as it was (hash, times); by name, idempotent.
    async fn put_api_token(&self, token: &ApiToken, token_hash: &str) -> StoreResult<()>;
    /// Up to `limit` audit entries with an id after `after`, with their ids,
    /// oldest first (for `copy`).
    async fn audit_after(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, AuditEntry)>>;
    /// Stores copied audit entries under their ids; ids present already are
    /// left alone (a copy run again adds nothing).
    async fn put_audit_entries(&self, entries: &[(i64, AuditEntry)]) -> StoreResult<u64>;

    /// Appends an entry to the audit log (the only write it takes).
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// Audit entries matching `query`, newest first.
    async fn audit_entries(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;

    /// A setting's stored value, `None` when it was never set.
    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets a setting and appends a `setting.change` audit entry (`old ->
    /// new`) in the same transaction. The value is checked by the caller
    /// ([`crate::settings::check_setting`]).
    async fn put_setting(
        &self,
        key: &str,
        value: &str,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<()>;
    /// Sets the organisation's time zone ([`crate::settings::TIME_ZONE`], an
    /// IANA name the caller checked) and, in the same transaction, appends
    /// the `setting.change` audit entry, re-derives every stored response's
    /// day in the new zone (a page of rows at a time, never all in memory)
    /// and rebuilds the rollups from those days; writes wait meanwhile, and
    /// every cube reloads. `put_setting` and `put_copied_setting` of
    /// `time_zone` come here too.
    async fn put_time_zone(
        &self,
        zone: &str,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<TimeZoneChanged>;
    /// The stored value of `key`, storing `value` first when there is none
    /// (not audited: for secrets the store generates itself). Two
    /// processes racing both get the one stored first.
    async fn setting_or_insert(&self, key: &str, value: &str, now_unix: i64)
    -> StoreResult<String>;
    /// Every stored setting, by key.
    async fn settings(&self) -> StoreResult<Vec<Setting>>;
    /// Stores a copied setting as it was (who, when), without an audit
    /// entry: the copied audit log holds the original one.
    async fn put_copied_setting(&self, setting: &Setting) -> StoreResult<()>;

    /// Writes a consistent copy of the whole database to a new file at
    /// `path` while it stays in use (SQLite: `VACUUM INTO`). PostgreSQL has
    /// its own tools (`pg_dump`, `pg_basebackup`): an error says so.
    async fn backup_to(&self, path: &std::path::Path) -> StoreResult<()>;

    /// Up to `limit` responses with an external_id after `after`, in the
    /// database's order of external_id (for copies, page by page).
    async fn responses_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<NewResponse>>;
    /// Up to `limit` customers with a customer_id after `after`.
    async fn customers_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<NewCustomer>>;
    /// Up to `limit` operational records after the key `after`
    /// (department, order_id, measure).
    async fn operations_after(
        &self,
        after: Option<&OperationKey>,
        limit: u32,
    ) -> StoreResult<Vec<NewOperation>>;
}

/// The key of an operational record: (department, order_id, measure).
pub type OperationKey = (String, String, String);

/// Rejects a batch that names one key twice: the caller reports duplicates
/// row by row; the store never silently keeps the last one.
pub fn ensure_unique_keys<'a, T, K: std::hash::Hash + Eq + std::fmt::Debug>(
    batch: &'a [T],
    what: &str,
    key: impl Fn(&'a T) -> K,
) -> StoreResult<()> {
    let mut seen = std::collections::HashSet::with_capacity(batch.len());
    for item in batch {
        let k = key(item);
        if seen.contains(&k) {
            return Err(StoreError::InvalidBatch(format!(
                "{what} {k:?} appears twice in one batch; report the duplicate row instead of writing it"
            )));
        }
        seen.insert(k);
    }
    Ok(())
}

/// The format of [`encode_cells`]: a reader that finds another one reloads
/// instead (a rolling upgrade may run two versions side by side).
const DELTA_FORMAT: u8 = 1;

/// Compact binary encoding of a delta's cells for the delta log: a format
/// byte, then per cell the day, the five dimension values (u16 length +
/// UTF-8), a bit mask of the non-zero counters and those counters (i64,
/// little-endian).
pub fn encode_cells(cells: &[RollupCell]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + cells.len() * 64);
    out.push(DELTA_FORMAT);
    out.extend_from_slice(&(cells.len() as u32).to_le_bytes());
    for (day, dims, summary) in cells {
        out.extend_from_slice(&day.to_le_bytes());
        for d in Dimension::ALL {
            let v = dims.get(d).as_bytes();
            // Dimension values are at most 100 characters (400 bytes).
            let len = v.len().min(u16::MAX as usize);
            out.extend_from_slice(&(len as u16).to_le_bytes());
            out.extend_from_slice(&v[..len]);
        }
        let counters = summary.to_counters();
        let mask = counters
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != 0)
            .fold(0u32, |m, (i, _)| m | (1 << i));
        out.extend_from_slice(&mask.to_le_bytes());
        for c in counters.iter().filter(|c| **c != 0) {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    out
}

/// Reads what [`encode_cells`] wrote.
pub fn decode_cells(bytes: &[u8]) -> StoreResult<Vec<RollupCell>> {
    let corrupt = || StoreError::Corrupt("a rollup delta in the log is truncated".into());
    if bytes.first() != Some(&DELTA_FORMAT) {
        return Err(StoreError::Corrupt(format!(
            "a rollup delta in the log has format {:?}, this version reads {DELTA_FORMAT}",
            bytes.first()
        )));
    }
    let mut at = 1usize;
    let mut take = |n: usize| -> StoreResult<&[u8]> {
        let slice = bytes.get(at..at + n).ok_or_else(corrupt)?;
        at += n;
        Ok(slice)
    };
    let le4 = |b: &[u8]| -> [u8; 4] { [b[0], b[1], b[2], b[3]] };
    let count = u32::from_le_bytes(le4(take(4)?)) as usize;
    // Each cell takes at least 18 bytes: never trust the count further.
    let mut cells = Vec::with_capacity(count.min(bytes.len() / 18));
    for _ in 0..count {
        let day = i32::from_le_bytes(le4(take(4)?));
        let mut dims = DimensionValues::default();
        for d in Dimension::ALL {
            let len_bytes = take(2)?;
            let len = u16::from_le_bytes([len_bytes[0], len_bytes[1]]) as usize;
            let text = std::str::from_utf8(take(len)?)
                .map_err(|_| StoreError::Corrupt("a rollup delta holds invalid UTF-8".into()))?;
            dims.set(d, text.to_string());
        }
        let mask = u32::from_le_bytes(le4(take(4)?));
        let mut counters = [0i64; ResponseSummary::COUNTERS];
        for (i, c) in counters.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                let b = take(8)?;
                *c = i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            }
        }
        cells.push((day, dims, ResponseSummary::from_counters(&counters)));
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_cells_round_trip_and_truncation_is_an_error() {
        let mut s = ResponseSummary::default();
        s.add_answers(Some(9), None, Some(3), Some(false));
        let mut dims = DimensionValues::default();
        dims.set(Dimension::Department, "logística".into());
        let cells = vec![
            (20_500, dims, s),
            (-3, DimensionValues::default(), s.negated()),
        ];
        let bytes = encode_cells(&cells);
        assert_eq!(decode_cells(&bytes).unwrap(), cells);
        assert!(decode_cells(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_cells(&[1, 255, 255, 255, 255]).is_err());
        assert!(decode_cells(&[2, 0, 0, 0, 0]).is_err(), "another format");
        assert!(decode_cells(&[]).is_err());
    }
}
