//! What both backends share: the column lists, the SQL that rebuilds
//! rollups from raw rows, and the pure part of a write (which rows changed,
//! and the rollup and customer-count deltas that follow).

use std::collections::HashMap;

use jiff::tz::TimeZone;
use northstar_core::calendar::Day;
use northstar_core::customer::NewCustomer;
use northstar_core::operation::NewOperation;
use northstar_core::response::NewResponse;
use northstar_core::{Dimension, DimensionValues, Mergeable, ResponseSummary};

use northstar_core::drivers::{MAX_VARIABLES, MomentSummary};

use crate::backend::{DriverSet, MomentCell, MomentOutcome};
use crate::{RollupCell, StoreError, StoreResult, WriteSummary};

/// Counter columns of `rollups_daily`, in [`ResponseSummary::to_counters`] order.
pub(crate) const COUNTER_COLUMNS: [&str; ResponseSummary::COUNTERS] = [
    "nps_0", "nps_1", "nps_2", "nps_3", "nps_4", "nps_5", "nps_6", "nps_7", "nps_8", "nps_9",
    "nps_10", "csat_1", "csat_2", "csat_3", "csat_4", "csat_5", "ces_1", "ces_2", "ces_3", "ces_4",
    "ces_5", "ces_6", "ces_7", "fcr_yes", "fcr_no",
];

/// The dimension columns, in key order, as SQL spells them (derived from
/// [`Dimension::ALL`]: adding a dimension is a variant and a migration).
pub(crate) const DIMENSION_COLUMNS: DimensionColumns = DimensionColumns;

/// Column of the first rollup counter in `SELECT day, {DIMENSION_COLUMNS}, counters…`.
pub(crate) const FIRST_COUNTER: usize = 1 + Dimension::COUNT;

pub(crate) struct DimensionColumns;

impl std::fmt::Display for DimensionColumns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Dimension::column_list())
    }
}

/// The columns of `responses` a [`NewResponse`] is read from and written to,
/// in the order the backends bind them: before the dimensions …
pub(crate) const RESPONSE_COLUMNS_BEFORE_DIMENSIONS: [&str; 4] = [
    "external_id",
    "customer_id",
    "submitted_at",
    "submitted_unix",
];
/// … and after them.
pub(crate) const RESPONSE_COLUMNS_AFTER_DIMENSIONS: [&str; 8] = [
    "nps",
    "csat",
    "ces",
    "fcr",
    "comment",
    "order_id",
    "drivers",
    "attributes",
];

/// Every column of a [`NewResponse`], comma-separated, in binding order.
pub(crate) const RESPONSE_COLUMNS: ResponseColumns = ResponseColumns;

pub(crate) struct ResponseColumns;

impl ResponseColumns {
    pub(crate) fn names(&self) -> impl Iterator<Item = &'static str> {
        RESPONSE_COLUMNS_BEFORE_DIMENSIONS
            .into_iter()
            .chain(Dimension::ALL.map(Dimension::as_str))
            .chain(RESPONSE_COLUMNS_AFTER_DIMENSIONS)
    }
}

impl std::fmt::Display for ResponseColumns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// How long the rollup delta log keeps a write's deltas, and how many writes
/// it keeps at most: a process further behind reloads the whole rollup table
/// instead (one read), so the log stays small even through a 10M-row import.
pub(crate) const DELTA_LOG_SECONDS: i64 = 3_600;
pub(crate) const DELTA_LOG_VERSIONS: i64 = 64;

/// A customer with no churn date counts as active in every period.
pub(crate) const NEVER_CHURNED: i64 = i32::MAX as i64;

/// The conditions each rollup counter counts, in counter order, given how
/// the dialect spells "first contact resolved" and its negation.
fn counter_conditions(fcr_yes: &str, fcr_no: &str) -> Vec<String> {
    let mut conditions = Vec::with_capacity(ResponseSummary::COUNTERS);
    conditions.extend((0..=10).map(|v| format!("nps = {v}")));
    conditions.extend((1..=5).map(|v| format!("csat = {v}")));
    conditions.extend((1..=7).map(|v| format!("ces = {v}")));
    conditions.push(fcr_yes.to_string());
    conditions.push(fcr_no.to_string());
    conditions
}

/// The rollup cells of the raw responses, one row per day and dimension
/// combination with at least one answer. `count` turns a condition into the
/// dialect's conditional count.
pub(crate) fn raw_rollup_select(
    count: impl Fn(&str) -> String,
    fcr_yes: &str,
    fcr_no: &str,
) -> String {
    let counters = counter_select(count, fcr_yes, fcr_no, "");
    // Each response's day in the organisation's time zone, as stored with
    // it (`calendar::day_in`, kept by every write and a change of zone).
    format!(
        "SELECT day, {DIMENSION_COLUMNS}, {counters} FROM responses \
         GROUP BY day, {DIMENSION_COLUMNS} \
         HAVING COUNT(nps) + COUNT(csat) + COUNT(ces) + COUNT(fcr) > 0",
    )
}

/// The rollup counters of the responses in a `SELECT`, in counter order:
/// `count(condition) AS nps_0, …`; score columns named with `prefix`, the
/// FCR conditions as given (spelled with the prefix by the caller).
pub(crate) fn counter_select(
    count: impl Fn(&str) -> String,
    fcr_yes: &str,
    fcr_no: &str,
    prefix: &str,
) -> String {
    let counters: Vec<String> = counter_conditions(fcr_yes, fcr_no)
        .iter()
        .zip(COUNTER_COLUMNS)
        .map(|(c, name)| {
            let c = if c.starts_with("nps") || c.starts_with("csat") || c.starts_with("ces") {
                format!("{prefix}{c}")
            } else {
                c.clone()
            };
            format!("{} AS {name}", count(&c))
        })
        .collect();
    counters.join(", ")
}

/// Customers by loyalty group from rows of `SELECT key, group ('p', 'a',
/// 'd'), customers, churn_known, churned, value_known, value_sum`.
pub(crate) fn loyalty_from_rows(
    rows: Vec<(String, String, i64, i64, i64, i64, f64)>,
) -> Vec<(String, northstar_core::revenue::LoyaltyCustomers)> {
    use northstar_core::revenue::{LoyaltyCustomers, LoyaltyGroupCustomers};
    let mut out: Vec<(String, LoyaltyCustomers)> = Vec::new();
    for (key, group, customers, churn_known, churned, value_known, value_sum) in rows {
        if out.last().is_none_or(|(k, _)| *k != key) {
            out.push((key.clone(), LoyaltyCustomers::default()));
        }
        let Some((_, entry)) = out.last_mut() else {
            continue;
        };
        let counts = LoyaltyGroupCustomers {
            customers: customers.max(0) as u64,
            churn_known: churn_known.max(0) as u64,
            churned: churned.max(0) as u64,
            value_known: value_known.max(0) as u64,
            annual_value_sum: value_sum,
        };
        match group.as_str() {
            "p" => entry.promoters = counts,
            "a" => entry.passives = counts,
            _ => entry.detractors = counts,
        }
    }
    out
}

/// The `WITH latest AS (…)` of [`loyalty_from_rows`]'s query up to its
/// selection conditions: each customer's latest NPS answer (per department
/// when split by department), from `responses r`.
pub(crate) fn loyalty_latest(by: Option<crate::LoyaltyBy>) -> String {
    let partition = match by {
        Some(crate::LoyaltyBy::Department) => "r.customer_id, r.department",
        _ => "r.customer_id",
    };
    format!(
        "WITH latest AS (SELECT r.customer_id, r.nps, r.department, r.segment, \
         ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY r.submitted_unix DESC, r.external_id DESC) AS k \
         FROM responses r WHERE r.customer_id IS NOT NULL AND r.nps IS NOT NULL"
    )
}

/// The rest of the loyalty query after the selection conditions, given
/// how the dialect tests a churn flag.
pub(crate) fn loyalty_rest(by: Option<crate::LoyaltyBy>, churned: &str) -> String {
    let key = match by {
        Some(crate::LoyaltyBy::Department) => "l.department",
        Some(crate::LoyaltyBy::Segment) => "COALESCE(c.segment, l.segment)",
        None => "''",
    };
    format!(
        ") SELECT {key} AS key, CASE WHEN l.nps >= 9 THEN 'p' WHEN l.nps >= 7 THEN 'a' ELSE 'd' END AS grp, \
         COUNT(*), COUNT(c.churned), SUM(CASE WHEN {churned} THEN 1 ELSE 0 END), COUNT(c.annual_value), \
         COALESCE(SUM(c.annual_value), 0.0) \
         FROM latest l LEFT JOIN customers c ON c.customer_id = l.customer_id WHERE l.k = 1 \
         GROUP BY 1, 2 ORDER BY 1, 2"
    )
}

/// Cells of `SELECT value_1, …, value_k, respondents, counters…`.
pub(crate) fn cells_from_rows<R: sqlx::Row>(
    rows: &[R],
    attributes: usize,
) -> StoreResult<Vec<northstar_core::weighting::RespondentCell>>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut cells = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(attributes);
        for i in 0..attributes {
            values.push(row.try_get::<String, _>(i)?);
        }
        let respondents: i64 = row.try_get(attributes)?;
        let mut counters = [0i64; ResponseSummary::COUNTERS];
        for (i, c) in counters.iter_mut().enumerate() {
            *c = row.try_get(attributes + 1 + i)?;
        }
        cells.push(northstar_core::weighting::RespondentCell {
            values,
            respondents: respondents.max(0) as u64,
            summary: ResponseSummary::from_counters(&counters),
        });
    }
    Ok(cells)
}

/// The SQL expression an attribute is read with, given how the dialect
/// reads a member of a JSON text column named by the next bound parameter
/// (`member("r.attributes")`).
pub(crate) fn attribute_expression(
    attribute: &crate::BreakdownAttribute,
    member: impl Fn(&str) -> String,
) -> String {
    match attribute {
        crate::BreakdownAttribute::Response(_) => member("r.attributes"),
        crate::BreakdownAttribute::CustomerRegion => "c.region".to_string(),
        crate::BreakdownAttribute::CustomerSegment => "c.segment".to_string(),
        crate::BreakdownAttribute::Customer(_) => member("c.attributes"),
    }
}

pub(crate) fn opt_u8(v: Option<i64>, column: &str) -> StoreResult<Option<u8>> {
    v.map(|x| {
        u8::try_from(x).map_err(|_| StoreError::Corrupt(format!("{column} = {x} is out of range")))
    })
    .transpose()
}

pub(crate) fn json_map<V: serde::de::DeserializeOwned>(
    text: &str,
    column: &str,
) -> StoreResult<std::collections::BTreeMap<String, V>> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{column} is not a JSON object: {e}")))
}

pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> String {
    // Maps of strings and small integers always serialise.
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string())
}

/// A row to write, and the stored row it replaces (if any).
pub(crate) type Change<'a, T> = (&'a T, Option<&'a T>);

/// Compares a batch with the stored rows of the same keys: identical rows
/// are unchanged; the others are inserted or replace what was stored.
pub(crate) fn changes<'a, T: PartialEq>(
    rows: &'a [T],
    existing: &'a HashMap<String, T>,
    key: impl Fn(&T) -> String,
) -> (WriteSummary, Vec<Change<'a, T>>) {
    let mut summary = WriteSummary::default();
    let mut changed = Vec::with_capacity(rows.len());
    for row in rows {
        match existing.get(&key(row)) {
            Some(old) if old == row => summary.unchanged += 1,
            Some(old) => {
                summary.replaced += 1;
                changed.push((row, Some(old)));
            }
            None => {
                summary.inserted += 1;
                changed.push((row, None));
            }
        }
    }
    (summary, changed)
}

/// The rollup cells a set of response changes adds (a replaced row's old
/// answers negated, on the day stored with it), sorted by key so that
/// concurrent writers lock cells in one order, and the days a retraction may
/// have emptied a cell on. New rows fall on their day in `zone`.
pub(crate) fn rollup_deltas(
    changes: &[Change<'_, NewResponse>],
    zone: &TimeZone,
    stored_days: &HashMap<String, Day>,
) -> (Vec<RollupCell>, Vec<Day>) {
    // Summed under borrowed keys with a fast hasher: a batch clones one key
    // per cell it touches, not one per row.
    let mut deltas: FastMap<(Day, &DimensionValues), ResponseSummary> = FastMap::default();
    let mut retracted_days: Vec<Day> = Vec::new();
    for (new, old) in changes {
        if let Some(old) = old {
            let day = stored_day(old, zone, stored_days);
            retracted_days.push(day);
            deltas
                .entry((day, &old.dimensions))
                .or_insert_with(ResponseSummary::empty)
                .merge(&old.summary().negated());
        }
        deltas
            .entry((new.day_in(zone), &new.dimensions))
            .or_insert_with(ResponseSummary::empty)
            .merge(&new.summary());
    }
    let mut cells: Vec<RollupCell> = deltas
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|((day, dims), s)| (day, dims.clone(), s))
        .collect();
    cells.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    retracted_days.sort_unstable();
    retracted_days.dedup();
    (cells, retracted_days)
}

/// A hash map with a fast, seeded hasher for the per-batch sums of a write
/// (keys are dimension strings from the batch itself; foldhash is seeded
/// per process, so a crafted batch cannot aim at collisions).
pub(crate) type FastMap<K, V> = foldhash::HashMap<K, V>;

/// Driver moments summed over a batch of responses under borrowed keys: one
/// owned key per cell is made only when cells are stored, and the log row
/// of a write is encoded straight from here. A batch's driver sets (a
/// handful) are numbered as met, so a row costs one hash of its rollup
/// cell.
#[derive(Debug, Default)]
pub(crate) struct MomentDelta<'a> {
    /// Driver sets met, by number (`None`: too many drivers to analyse).
    sets: Vec<Option<Vec<&'a str>>>,
    cells: FastMap<(Day, &'a DimensionValues), Vec<CellSums>>,
    row: Vec<f64>,
}

/// One rollup cell's sums in a batch: outcome, driver-set number, moments.
type CellSums = (MomentOutcome, usize, MomentSummary);

impl<'a> MomentDelta<'a> {
    /// Adds (or, `retract`ing, takes away) each answer of an outcome: the
    /// row (outcome, its driver ratings in name order).
    pub(crate) fn add(
        &mut self,
        responses: impl IntoIterator<Item = (&'a NewResponse, Day)>,
        retract: bool,
    ) {
        for (r, day) in responses {
            let mut set = None;
            for outcome in MomentOutcome::ALL {
                let Some(y) = outcome.value(r) else { continue };
                let named = r.drivers.len() < MAX_VARIABLES;
                let set = *set.get_or_insert_with(|| self.set_number(r, named));
                self.row.clear();
                self.row.push(y);
                if named {
                    self.row.extend(r.drivers.values().map(|v| f64::from(*v)));
                }
                let sums = self.cells.entry((day, &r.dimensions)).or_default();
                let i = match sums.iter().position(|(o, s, _)| *o == outcome && *s == set) {
                    Some(i) => i,
                    None => {
                        sums.push((outcome, set, MomentSummary::empty()));
                        sums.len() - 1
                    }
                };
                let sum = &mut sums[i].2;
                // A row of another width cannot meet this key (its set
                // fixes the width); a non-finite value cannot come from
                // ratings.
                let _ = if retract {
                    sum.remove(&self.row)
                } else {
                    sum.add(&self.row)
                };
            }
        }
    }

    /// The number of a response's driver set (its rated drivers in name
    /// order, or none when it rated too many to analyse).
    fn set_number(&mut self, r: &'a NewResponse, named: bool) -> usize {
        let found = self.sets.iter().position(|s| match s {
            Some(names) => {
                named
                    && names
                        .iter()
                        .copied()
                        .eq(r.drivers.keys().map(String::as_str))
            }
            None => !named,
        });
        found.unwrap_or_else(|| {
            self.sets
                .push(named.then(|| r.drivers.keys().map(String::as_str).collect()));
            self.sets.len() - 1
        })
    }

    /// Cells that did not cancel out, with their set numbers.
    fn nonzero(&self) -> impl Iterator<Item = (Day, &'a DimensionValues, &CellSums)> + '_ {
        self.cells.iter().flat_map(|((day, dims), sums)| {
            sums.iter()
                .filter(|(_, _, m)| !is_zero(m))
                .map(move |s| (*day, *dims, s))
        })
    }

    /// Whether nothing is left to store.
    pub(crate) fn is_empty(&self) -> bool {
        self.nonzero().next().is_none()
    }

    /// Adds the cells, with owned keys, into `into`.
    pub(crate) fn merge_into(&self, into: &mut FastMap<MomentKey, MomentSummary>) {
        let sets = self.owned_sets();
        for (day, dims, (outcome, set, m)) in self.nonzero() {
            into.entry((day, dims.clone(), *outcome, sets[*set].clone()))
                .or_insert_with(MomentSummary::empty)
                .merge(m);
        }
    }

    fn owned_sets(&self) -> Vec<DriverSet> {
        self.sets
            .iter()
            .map(|names| match names {
                Some(names) => DriverSet::Named(names.iter().map(|n| n.to_string()).collect()),
                None => DriverSet::TooMany,
            })
            .collect()
    }

    /// One `driver_moment_log` row: each distinct dimension combination and
    /// driver set written once, cells referring to them by number —
    /// `{"v":2,"dims":[[survey,…]],"sets":[text],"cells":[[day,dims,outcome,set,n,[body]]]}`.
    pub(crate) fn encode_log(&self) -> StoreResult<String> {
        let mut dims_number: FastMap<&DimensionValues, usize> = FastMap::default();
        let mut dims: Vec<[&str; Dimension::COUNT]> = Vec::new();
        type Row = (Day, usize, &'static str, usize, i64, Vec<f64>);
        let mut rows: Vec<Row> = Vec::new();
        for (day, d, (outcome, set, m)) in self.nonzero() {
            let number = *dims_number.entry(d).or_insert_with(|| {
                dims.push(Dimension::ALL.map(|x| d.get(x)));
                dims.len() - 1
            });
            let mut flat = m
                .to_flat()
                .map_err(|e| StoreError::Corrupt(format!("driver moments: {e}")))?;
            flat.drain(..2.min(flat.len()));
            rows.push((day, number, outcome.code(), *set, m.n(), flat));
        }
        let sets: Vec<String> = self.owned_sets().iter().map(DriverSet::encode).collect();
        #[derive(serde::Serialize)]
        struct Log<'b> {
            v: u8,
            dims: Vec<[&'b str; Dimension::COUNT]>,
            sets: Vec<String>,
            cells: Vec<Row>,
        }
        let log = Log {
            v: 2,
            dims,
            sets,
            cells: rows,
        };
        serde_json::to_string(&log)
            .map_err(|e| StoreError::Corrupt(format!("driver moment log: {e}")))
    }
}

fn is_zero(m: &MomentSummary) -> bool {
    m.n() == 0
        && m.to_flat()
            .is_ok_and(|flat| flat[2..].iter().all(|v| *v == 0.0))
}

/// Adds the moments of responses (or, `retract`ing, takes them away) into
/// a map by owned cell key (scans of stored responses).
pub(crate) fn add_moments<'a>(
    deltas: &mut FastMap<MomentKey, MomentSummary>,
    responses: impl IntoIterator<Item = (&'a NewResponse, Day)>,
    retract: bool,
) {
    let mut delta = MomentDelta::default();
    delta.add(responses, retract);
    delta.merge_into(deltas);
}

/// Rows a scan of stored responses sums at a time (see [`add_moments`]).
pub(crate) const MOMENT_SCAN_CHUNK: usize = 4096;

/// Key of a driver-moment cell.
pub(crate) type MomentKey = (Day, DimensionValues, MomentOutcome, DriverSet);

/// The moments a set of response changes adds (a replaced row's old
/// answers retracted), under borrowed keys.
/// (Days as for [`rollup_deltas`]: old rows on their stored day, new ones
/// on their day in `zone`.)
pub(crate) fn moment_deltas<'a>(
    changes: &[Change<'a, NewResponse>],
    zone: &TimeZone,
    stored_days: &HashMap<String, Day>,
) -> MomentDelta<'a> {
    let mut delta = MomentDelta::default();
    delta.add(
        changes
            .iter()
            .filter_map(|(_, old)| *old)
            .map(|old| (old, stored_day(old, zone, stored_days))),
        true,
    );
    delta.add(
        changes.iter().map(|(new, _)| (*new, new.day_in(zone))),
        false,
    );
    delta
}

/// The day a stored response is counted under: the one stored with it
/// (its day in `zone` if none was read).
pub(crate) fn stored_day(
    r: &NewResponse,
    zone: &TimeZone,
    stored_days: &HashMap<String, Day>,
) -> Day {
    stored_days
        .get(&r.external_id)
        .copied()
        .unwrap_or_else(|| r.day_in(zone))
}

/// The moments removing these responses (with their stored days) takes
/// away.
pub(crate) fn removal_moment_deltas(removed: &[(NewResponse, Day)]) -> MomentDelta<'_> {
    let mut delta = MomentDelta::default();
    delta.add(removed.iter().map(|(r, d)| (r, *d)), true);
    delta
}

/// Cells in key order, leaving out those a retraction cancelled exactly.
pub(crate) fn sorted_moment_cells(deltas: FastMap<MomentKey, MomentSummary>) -> Vec<MomentCell> {
    let mut cells: Vec<MomentCell> = deltas
        .into_iter()
        .filter(|(_, m)| !is_zero(m))
        .map(|((day, dims, outcome, set), m)| (day, dims, outcome, set, m))
        .collect();
    cells.sort_by(|a, b| (a.0, &a.1, a.2, &a.3).cmp(&(b.0, &b.1, b.2, &b.3)));
    cells
}

/// Delta batches in `driver_moment_log` beyond which a write folds the
/// log into `driver_moments_daily`: a write appends one row however many
/// cells it touched, and the fold rewrites the table once per this many
/// writes (a batch of 50,000 responses in random time order touches tens of
/// thousands of moment cells; adding into each row per write cost about
/// 12 µs per response on SQLite).
pub(crate) const MOMENT_LOG_FOLD: i64 = 16;

/// Decodes a `driver_moment_log` row: [`MomentDelta::encode_log`]'s
/// format, or the first one (an array of
/// `[day,[survey,…],outcome,set,n,[body]]`, rows logged before it).
pub(crate) fn decode_moment_log(text: &str) -> StoreResult<Vec<MomentCell>> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("driver_moment_log row: {e}"));
    type FirstRow = (Day, Vec<String>, String, String, i64, Vec<f64>);
    #[derive(serde::Deserialize)]
    struct Log {
        dims: Vec<Vec<String>>,
        sets: Vec<String>,
        cells: Vec<(Day, usize, String, usize, i64, Vec<f64>)>,
    }
    let rows: Vec<FirstRow> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(corrupt)?
    } else {
        let log: Log = serde_json::from_str(text).map_err(corrupt)?;
        let missing = || StoreError::Corrupt("driver_moment_log: a cell refers to no entry".into());
        log.cells
            .into_iter()
            .map(|(day, d, outcome, s, n, body)| {
                Ok((
                    day,
                    log.dims.get(d).ok_or_else(missing)?.clone(),
                    outcome,
                    log.sets.get(s).ok_or_else(missing)?.clone(),
                    n,
                    body,
                ))
            })
            .collect::<StoreResult<_>>()?
    };
    rows.into_iter()
        .map(|(day, values, outcome, set, n, body)| {
            if values.len() != Dimension::COUNT {
                return Err(StoreError::Corrupt(
                    "driver_moment_log: wrong number of dimensions".into(),
                ));
            }
            let mut dims = DimensionValues::default();
            for (d, v) in Dimension::ALL.iter().zip(values) {
                dims.set(*d, v);
            }
            let set = DriverSet::decode(&set)?;
            let m = moment_from_stored(&set, n, &body)?;
            Ok((day, dims, MomentOutcome::from_code(&outcome)?, set, m))
        })
        .collect()
}

/// The cells of logged writes (`driver_moment_log.cells` texts) merged by
/// key, in key order, without cells that cancelled out.
pub(crate) fn merged_log(texts: &[String]) -> StoreResult<Vec<MomentCell>> {
    let mut merged = FastMap::default();
    for text in texts {
        merge_moment_cells(&mut merged, decode_moment_log(text)?);
    }
    Ok(sorted_moment_cells(merged))
}

/// The cells of a delta that take rows away: only they can leave a stored
/// cell empty (to be deleted after the delta is added).
pub(crate) fn retracting(cells: &[MomentCell]) -> Vec<&MomentCell> {
    cells.iter().filter(|c| c.4.n() < 0).collect()
}

/// The dimension columns with a table prefix (`m.survey, m.touchpoint, …`).
pub(crate) fn prefixed_dimension_columns(prefix: &str) -> String {
    Dimension::ALL
        .iter()
        .map(|d| format!("{prefix}{}", d.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds cells into a map by key (stored rows and logged deltas alike).
pub(crate) fn merge_moment_cells(
    into: &mut FastMap<MomentKey, MomentSummary>,
    cells: Vec<MomentCell>,
) {
    for (day, dims, outcome, set, m) in cells {
        into.entry((day, dims, outcome, set))
            .or_insert_with(MomentSummary::empty)
            .merge(&m);
    }
}

/// What `driver_moments_daily.moments` holds for a summary: its sums then
/// its products ([`MomentSummary::to_flat`] without the `[p, n]` header,
/// which the driver set and the `n` column give).
pub(crate) fn moment_body(m: &MomentSummary) -> StoreResult<Vec<f64>> {
    let flat = m
        .to_flat()
        .map_err(|e| StoreError::Corrupt(format!("driver moments: {e}")))?;
    Ok(flat.get(2..).unwrap_or_default().to_vec())
}

/// A stored moment row back as a summary; its width follows from the set.
pub(crate) fn moment_from_stored(
    set: &DriverSet,
    n: i64,
    body: &[f64],
) -> StoreResult<MomentSummary> {
    let p = match set {
        DriverSet::Named(names) => names.len() + 1,
        DriverSet::TooMany => 1,
    };
    let mut flat = Vec::with_capacity(2 + body.len());
    flat.push(p as f64);
    flat.push(n as f64);
    flat.extend_from_slice(body);
    MomentSummary::from_flat(&flat)
        .map_err(|e| StoreError::Corrupt(format!("driver_moments_daily row of {set:?}: {e}")))
}

/// A moment body as a JSON array; the sums of ratings are whole numbers
/// and are written as integers, so SQL adds them exactly.
pub(crate) fn moment_json(body: &[f64]) -> String {
    let mut out = String::with_capacity(body.len() * 4 + 2);
    out.push('[');
    for (i, v) in body.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            out.push_str(&(*v as i64).to_string());
        } else {
            out.push_str(&v.to_string());
        }
    }
    out.push(']');
    out
}

/// A response as an expectation gap sees it: linked by order, counted in
/// its rollup cell, satisfied when its CSAT is 4–5.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GapResponse {
    pub order_id: String,
    pub day: Day,
    pub dimensions: DimensionValues,
    pub csat: u8,
}

impl GapResponse {
    /// `None` for a response no expectation gap counts (no order or no
    /// CSAT); `day` is the one it is counted under.
    pub(crate) fn of(r: &NewResponse, day: Day) -> Option<Self> {
        Some(Self {
            order_id: r.order_id.clone()?,
            day,
            dimensions: r.dimensions.clone(),
            csat: r.csat?,
        })
    }
}

/// An operational record as an expectation gap sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GapOperation {
    pub order_id: String,
    pub department: String,
    pub measure: String,
    pub value: f64,
    pub target: Option<f64>,
}

impl GapOperation {
    pub(crate) fn of(o: &NewOperation) -> Self {
        Self {
            order_id: o.order_id.clone(),
            department: o.department.clone(),
            measure: o.measure.clone(),
            value: o.value,
            target: o.target,
        }
    }
}

/// Bits of a stored measure value as a key (−0 is 0, as SQL compares).
fn value_key(v: f64) -> u64 {
    if v == 0.0 {
        0.0f64.to_bits()
    } else {
        v.to_bits()
    }
}

pub(crate) use crate::backend::{GapCell, TargetCell};

type GapKey = (String, String, u64, Day, DimensionValues);

/// What a write adds to (or takes from) the maintained response-to-order
/// links: CSAT answers per (department, measure, value) and response cell,
/// and records per (department, measure, target).
#[derive(Debug, Default)]
pub(crate) struct GapDelta {
    cells: HashMap<GapKey, (i64, i64)>,
    targets: HashMap<(String, String, u64), i64>,
}

impl GapDelta {
    fn pair(&mut self, r: &GapResponse, o: &GapOperation, sign: i64) {
        let e = self
            .cells
            .entry((
                o.department.clone(),
                o.measure.clone(),
                value_key(o.value),
                r.day,
                r.dimensions.clone(),
            ))
            .or_default();
        e.0 += sign * i64::from(r.csat >= 4);
        e.1 += sign;
    }

    fn record(&mut self, o: &GapOperation, sign: i64) {
        if let Some(t) = o.target {
            *self
                .targets
                .entry((o.department.clone(), o.measure.clone(), value_key(t)))
                .or_default() += sign;
        }
    }

    /// Responses changed: each old version's links retracted, each new
    /// one's added, against the records stored now (`by_order`).
    pub(crate) fn responses_changed(
        changes: &[Change<'_, NewResponse>],
        zone: &TimeZone,
        stored_days: &HashMap<String, Day>,
        by_order: &HashMap<String, Vec<GapOperation>>,
    ) -> Self {
        let mut d = Self::default();
        for (new, old) in changes {
            let old = old.and_then(|o| GapResponse::of(o, stored_day(o, zone, stored_days)));
            for (r, sign) in [(old, -1), (GapResponse::of(new, new.day_in(zone)), 1)] {
                if let Some(r) = r {
                    for o in by_order.get(&r.order_id).into_iter().flatten() {
                        d.pair(&r, o, sign);
                    }
                }
            }
        }
        d
    }

    /// Records changed: each old version's links and target retracted, the
    /// new one's added, against the responses stored now (`by_order`).
    pub(crate) fn operations_changed(
        changes: &[Change<'_, NewOperation>],
        by_order: &HashMap<String, Vec<GapResponse>>,
    ) -> Self {
        let mut d = Self::default();
        for (new, old) in changes {
            for (o, sign) in [
                (old.map(GapOperation::of), -1),
                (Some(GapOperation::of(new)), 1),
            ] {
                if let Some(o) = o {
                    d.record(&o, sign);
                    for r in by_order.get(&o.order_id).into_iter().flatten() {
                        d.pair(r, &o, sign);
                    }
                }
            }
        }
        d
    }

    /// Responses and records removed together (an erasure): every link of
    /// a removed response or record, counted once — with the records and
    /// responses that remain (`*_left`) and with each other.
    pub(crate) fn removed(
        responses: &[GapResponse],
        operations: &[GapOperation],
        operations_left: &HashMap<String, Vec<GapOperation>>,
        responses_left: &HashMap<String, Vec<GapResponse>>,
    ) -> Self {
        let mut d = Self::default();
        for r in responses {
            for o in operations_left.get(&r.order_id).into_iter().flatten() {
                d.pair(r, o, -1);
            }
            for o in operations.iter().filter(|o| o.order_id == r.order_id) {
                d.pair(r, o, -1);
            }
        }
        for o in operations {
            d.record(o, -1);
            for r in responses_left.get(&o.order_id).into_iter().flatten() {
                d.pair(r, o, -1);
            }
        }
        d
    }

    /// Responses that lost their order link (anonymised).
    pub(crate) fn unlinked(
        responses: &[GapResponse],
        by_order: &HashMap<String, Vec<GapOperation>>,
    ) -> Self {
        Self::removed(responses, &[], by_order, &HashMap::new())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.cells.values().all(|c| *c == (0, 0)) && self.targets.values().all(|t| *t == 0)
    }

    /// Cells in key order (concurrent writers lock rows in one order),
    /// without zeros.
    pub(crate) fn cells(&self) -> Vec<GapCell> {
        let mut cells: Vec<GapCell> = self
            .cells
            .iter()
            .filter(|(_, c)| **c != (0, 0))
            .map(|((dep, m, v, day, dims), (sat, n))| {
                (
                    dep.clone(),
                    m.clone(),
                    f64::from_bits(*v),
                    *day,
                    dims.clone(),
                    *sat,
                    *n,
                )
            })
            .collect();
        cells.sort_by(|a, b| {
            (&a.0, &a.1)
                .cmp(&(&b.0, &b.1))
                .then(a.2.total_cmp(&b.2))
                .then_with(|| (a.3, &a.4).cmp(&(b.3, &b.4)))
        });
        cells
    }

    pub(crate) fn targets(&self) -> Vec<TargetCell> {
        let mut t: Vec<TargetCell> = self
            .targets
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|((dep, m, v), n)| (dep.clone(), m.clone(), f64::from_bits(*v), *n))
            .collect();
        t.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)).then(a.2.total_cmp(&b.2)));
        t
    }
}

/// The response-dimension columns of `gap_cells`, in key order (the
/// response's department is `rdepartment` beside the record's).
pub(crate) fn gap_dimension_columns(prefix: &str) -> String {
    Dimension::ALL
        .iter()
        .map(|d| match d {
            Dimension::Department => format!("{prefix}rdepartment"),
            other => format!("{prefix}{}", other.as_str()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Groups linked rows by their order id.
pub(crate) fn by_order<T>(rows: Vec<T>, order: impl Fn(&T) -> &str) -> HashMap<String, Vec<T>> {
    let mut map: HashMap<String, Vec<T>> = HashMap::new();
    for row in rows {
        map.entry(order(&row).to_string()).or_default().push(row);
    }
    map
}

/// Order ids whose links a set of response changes touches.
pub(crate) fn linked_orders<'a>(
    responses: impl IntoIterator<Item = &'a NewResponse>,
) -> Vec<String> {
    let mut ids: Vec<String> = responses
        .into_iter()
        .filter(|r| r.csat.is_some())
        .filter_map(|r| r.order_id.clone())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The SQL that rebuilds `gap_cells` from raw rows (`day` as the rollups
/// compute it).
pub(crate) fn raw_gap_select() -> String {
    let dims: Vec<String> = Dimension::ALL
        .iter()
        .map(|d| match d {
            Dimension::Department => "r.department AS rdepartment".to_string(),
            other => format!("r.{0} AS {0}", other.as_str()),
        })
        .collect();
    format!(
        "SELECT o.department AS department, o.measure AS measure, o.value AS value, {day} AS day, {dims}, \
         SUM(CASE WHEN r.csat >= 4 THEN 1 ELSE 0 END) AS satisfied, COUNT(*) AS answered \
         FROM operations o JOIN responses r ON r.order_id = o.order_id WHERE r.csat IS NOT NULL \
         GROUP BY o.department, o.measure, o.value, 4, {group}",
        day = "CAST(r.day AS BIGINT)",
        dims = dims.join(", "),
        group = Dimension::ALL
            .iter()
            .map(|d| format!("r.{}", d.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn churn_key(c: &NewCustomer) -> i64 {
    c.churned_on.map_or(NEVER_CHURNED, i64::from)
}

/// Customers per (segment, churn day) that a set of customer changes adds
/// or removes, without zeros, sorted.
pub(crate) fn customer_count_deltas(
    changes: &[Change<'_, NewCustomer>],
) -> Vec<((String, i64), i64)> {
    let mut counts: HashMap<(String, i64), i64> = HashMap::new();
    for (new, old) in changes {
        if let Some(old) = old
            && let Some(segment) = old.segment.clone()
        {
            *counts.entry((segment, churn_key(old))).or_default() -= 1;
        }
        if let Some(segment) = new.segment.clone() {
            *counts.entry((segment, churn_key(new))).or_default() += 1;
        }
    }
    let mut counts: Vec<((String, i64), i64)> =
        counts.into_iter().filter(|(_, n)| *n != 0).collect();
    counts.sort();
    counts
}

/// The rollup cells that removing `removed` (each with its stored day)
/// takes away (each answer negated, exactly), sorted, and the days where a
/// cell may now be empty.
pub(crate) fn removal_deltas(removed: &[(NewResponse, Day)]) -> (Vec<RollupCell>, Vec<Day>) {
    let mut deltas: HashMap<(Day, DimensionValues), ResponseSummary> = HashMap::new();
    for (old, day) in removed {
        deltas
            .entry((*day, old.dimensions.clone()))
            .or_insert_with(ResponseSummary::empty)
            .merge(&old.summary().negated());
    }
    let mut cells: Vec<RollupCell> = deltas
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|((day, dims), s)| (day, dims, s))
        .collect();
    cells.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut days: Vec<Day> = removed.iter().map(|(_, day)| *day).collect();
    days.sort_unstable();
    days.dedup();
    (cells, days)
}

/// The customer counts removing a customer takes away.
pub(crate) fn customer_removal_deltas(removed: Option<&NewCustomer>) -> Vec<((String, i64), i64)> {
    removed
        .and_then(|c| c.segment.clone().map(|s| vec![((s, churn_key(c)), -1)]))
        .unwrap_or_default()
}

/// Responses re-derived per statement when the time zone changes: memory
/// holds one page of (external_id, submitted_unix, day).
pub(crate) const REBUCKET_PAGE: i64 = 10_000;

/// The rows of one page whose stored day differs from their day in `zone`,
/// with the new day.
pub(crate) fn moved_days(
    page: &[(String, i64, Option<i64>)],
    zone: &TimeZone,
) -> Vec<(String, Day)> {
    page.iter()
        .filter_map(|(id, unix, stored)| {
            let day = northstar_core::calendar::day_in(*unix, zone);
            (*stored != Some(i64::from(day))).then(|| (id.clone(), day))
        })
        .collect()
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The row decoders both backends share, for a backend's row type: the
/// columns are named alike and decode to the same Rust types.
macro_rules! row_decoders {
    ($row:ty) => {
        /// A row of `attribute_rows_after`'s select.
        fn attribute_row_from_row(row: &$row) -> StoreResult<crate::attribute_cells::AttributeRow> {
            let mut dimensions = DimensionValues::default();
            for d in Dimension::ALL {
                dimensions.set(d, row.try_get(2 + d.index())?);
            }
            let day: i64 = row.try_get("day")?;
            let customer = if row.try_get::<bool, _>("known")? {
                let attributes: Option<String> = row.try_get("customer_attributes")?;
                Some(crate::attribute_cells::CustomerAttributes {
                    region: row.try_get("region")?,
                    segment: row.try_get("segment")?,
                    attributes: match attributes {
                        Some(text) => crate::schema::json_map(&text, "customers.attributes")?,
                        None => Default::default(),
                    },
                })
            } else {
                None
            };
            Ok(crate::attribute_cells::AttributeRow {
                external_id: row.try_get("external_id")?,
                day: Day::try_from(day).map_err(|_| {
                    StoreError::Corrupt(format!("response day {day} is out of range"))
                })?,
                dimensions,
                nps: crate::schema::opt_u8(row.try_get("nps")?, "nps")?,
                csat: crate::schema::opt_u8(row.try_get("csat")?, "csat")?,
                ces: crate::schema::opt_u8(row.try_get("ces")?, "ces")?,
                fcr: row.try_get("fcr")?,
                attributes: crate::schema::json_map(row.try_get("attributes")?, "attributes")?,
                customer,
            })
        }

        /// `SELECT order_id, day, {dimensions}, csat`.
        fn gap_response_from_row(row: &$row) -> StoreResult<crate::schema::GapResponse> {
            let mut dimensions = DimensionValues::default();
            for d in Dimension::ALL {
                dimensions.set(d, row.try_get(2 + d.index())?);
            }
            let csat: i64 = row.try_get(2 + Dimension::COUNT)?;
            Ok(crate::schema::GapResponse {
                order_id: row.try_get(0)?,
                day: {
                    let day: i64 = row.try_get(1)?;
                    Day::try_from(day).map_err(|_| {
                        StoreError::Corrupt(format!("response day {day} is out of range"))
                    })?
                },
                dimensions,
                csat: u8::try_from(csat)
                    .map_err(|_| StoreError::Corrupt(format!("csat {csat} is out of range")))?,
            })
        }

        /// `SELECT order_id, department, measure, value, target`.
        fn gap_operation_from_row(row: &$row) -> StoreResult<crate::schema::GapOperation> {
            Ok(crate::schema::GapOperation {
                order_id: row.try_get(0)?,
                department: row.try_get(1)?,
                measure: row.try_get(2)?,
                value: row.try_get(3)?,
                target: row.try_get(4)?,
            })
        }

        /// `SELECT department, measure, value, day, {dimensions}, satisfied, answered`.
        fn gap_cell_from_row(row: &$row) -> StoreResult<crate::schema::GapCell> {
            let mut dimensions = DimensionValues::default();
            for d in Dimension::ALL {
                dimensions.set(d, row.try_get(4 + d.index())?);
            }
            let day: i64 = row.try_get(3)?;
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                Day::try_from(day)
                    .map_err(|_| StoreError::Corrupt(format!("gap day {day} is out of range")))?,
                dimensions,
                row.try_get(4 + Dimension::COUNT)?,
                row.try_get(5 + Dimension::COUNT)?,
            ))
        }

        /// Rows of `SELECT key, responses, counters…`, largest first.
        fn attribute_summaries_from(
            rows: &[$row],
            limit: usize,
        ) -> StoreResult<crate::AttributeSummaries> {
            let mut groups = Vec::with_capacity(rows.len().min(limit));
            for row in rows.iter().take(limit) {
                let mut counters = [0i64; ResponseSummary::COUNTERS];
                for (i, c) in counters.iter_mut().enumerate() {
                    *c = row.try_get(2 + i)?;
                }
                groups.push((
                    row.try_get::<String, _>(0)?,
                    ResponseSummary::from_counters(&counters),
                ));
            }
            Ok(crate::AttributeSummaries {
                groups,
                truncated: rows.len() > limit,
            })
        }

        fn api_token_from_row(row: &$row) -> StoreResult<ApiToken> {
            Ok(ApiToken {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                role: accounts::stored_role(row.try_get::<&str, _>("role")?)?,
                department: row.try_get("department")?,
                created_unix: row.try_get("created_unix")?,
                last_used_unix: row.try_get("last_used_unix")?,
                revoked_unix: row.try_get("revoked_unix")?,
            })
        }

        fn user_from_row(row: &$row) -> StoreResult<User> {
            Ok(User {
                id: row.try_get("id")?,
                email: row.try_get("email")?,
                role: accounts::stored_role(row.try_get::<&str, _>("role")?)?,
                department: row.try_get("department")?,
                disabled: row.try_get("disabled")?,
                created_unix: row.try_get("created_unix")?,
            })
        }

        fn customer_from_row(row: &$row) -> StoreResult<NewCustomer> {
            Ok(NewCustomer {
                customer_id: row.try_get("customer_id")?,
                segment: row.try_get("segment")?,
                region: row.try_get("region")?,
                annual_value: row.try_get("annual_value")?,
                churned: row.try_get("churned")?,
                churned_on: row.try_get("churned_on")?,
                acquired_on: row.try_get("acquired_on")?,
                attributes: json_map(row.try_get::<&str, _>("attributes")?, "attributes")?,
            })
        }

        fn operation_from_row(row: &$row) -> StoreResult<NewOperation> {
            Ok(NewOperation {
                department: row.try_get("department")?,
                order_id: row.try_get("order_id")?,
                measure: row.try_get("measure")?,
                customer_id: row.try_get("customer_id")?,
                occurred_at: row.try_get("occurred_at")?,
                occurred_unix: row.try_get("occurred_unix")?,
                value: row.try_get("value")?,
                target: row.try_get("target")?,
                attributes: json_map(row.try_get::<&str, _>("attributes")?, "attributes")?,
            })
        }
    };
}
pub(crate) use row_decoders;
