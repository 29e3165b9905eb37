//! The backend-neutral layer: a [`Backend`] persists, [`CachedStore`] holds
//! the in-memory rollup cube on top of it and keeps it current by replaying
//! the versioned rollup deltas of other processes' writes — never by
//! reloading the whole table unless the delta log no longer covers the gap.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use northstar_core::calendar::{self, Day, Month};
use northstar_core::customer::NewCustomer;
use northstar_core::operation::NewOperation;
use northstar_core::personal_data;
use northstar_core::response::NewResponse;
use northstar_core::rollup::{CubeAnswer, CubeQuery, RollupCube};
use northstar_core::{Dimension, DimensionValues, Mergeable, ResponseSummary};
use tokio::sync::Mutex;

use crate::attribute_cells::{AttributeCells, AttributeCellsBuilder, dimensions_pass};
use crate::backend::{
    AttributeSummaries, Backend, BreakdownAttribute, CubePosition, DataVersions, DeltasSince,
    Erased, GapCell, GapCounts, GapQuery, LoyaltyBy, MAX_RESPONSE_PAGE, MomentCell, MomentOutcome,
    RespondentCounts, RespondentQuery, ResponseListQuery, RollupDelta, TargetCell, TimeZoneChanged,
};
use crate::settings::REDACT_PERSONAL_DATA;
use crate::{
    CubeStatus, RollupCell, RollupCheck, Store, StoreCounts, StoreError, StoreResult, WriteSummary,
};

/// Most distinct values one dimension may take (departments, segments, …).
/// Each value costs memory in the cube for every combination it appears in;
/// a typo'd or generated value per row would otherwise grow it without bound.
pub const MAX_DISTINCT_VALUES: usize = 1_000;

/// Months of day cells the cube keeps by default (this month and the twelve
/// before): older months keep totals and spans only, and a question about
/// single days in them reads those days from the database. Sized by
/// `bench/cube_memory.py`; `docs/deploy.md` says when to lower it.
pub const DEFAULT_DAY_CELL_MONTHS: u32 = 13;

/// Respondent counts kept per selection, at most this many.
const RESPONDENT_CACHE_ENTRIES: usize = 64;

/// A respondent count, the data versions it was computed at and when it was
/// last used (for eviction).
type RespondentEntry = (DataVersions, u64, RespondentCounts);
/// Customers by loyalty group for a selection (and split), with the data
/// versions they were read at and when they were last used.
type LoyaltyEntry = (
    DataVersions,
    u64,
    Vec<(String, northstar_core::revenue::LoyaltyCustomers)>,
);

/// The cube and the writes it includes.
struct LoadedCube {
    position: CubePosition,
    cube: RollupCube,
}

/// A [`Store`] over any [`Backend`].
pub struct CachedStore {
    backend: Box<dyn Backend>,
    cube: RwLock<Option<LoadedCube>>,
    /// One catch-up (replay or reload) at a time.
    refresh: Mutex<()>,
    loads: AtomicU64,
    replays: AtomicU64,
    /// Distinct respondents need a pass over raw rows; a page view repeats
    /// the same selection, so counts are kept until the data changes.
    respondents: std::sync::Mutex<HashMap<RespondentQuery, RespondentEntry>>,
    /// Loyalty groups scan raw rows too, and a business case, a pilot's
    /// roadmap and revenue at risk ask for the same ones: kept until the
    /// data changes, like respondent counts.
    loyalty: std::sync::Mutex<HashMap<(RespondentQuery, Option<LoyaltyBy>), LoyaltyEntry>>,
    uses: AtomicU64,
    /// Respondent counts scan raw rows: at most this many at once, so that
    /// requests varying their filter to miss the cache queue here instead of
    /// taking every database connection.
    respondent_scans: tokio::sync::Semaphore,
    /// Dimension values of writes in flight in this process, with how many
    /// writes hold each.
    pending_values: std::sync::Mutex<PendingValues>,
    /// Months of day cells kept; `None`: every day.
    day_cell_months: Option<u32>,
    /// At most [`DAY_READS`] reads of old day cells at once.
    day_reads: tokio::sync::Semaphore,
    /// Bumped (under the cube's write lock) whenever the cube changes, so a
    /// question answered in two steps can tell the cube stayed the same.
    generation: AtomicU64,
    /// The driver-moment cells (`driver_moments_daily`: as many as rollup
    /// cells, not responses), reloaded when the data version moves.
    moments: Mutex<Option<std::sync::Arc<LoadedMoments>>>,
    /// Gap cells per (department, measure), reloaded when data moves.
    gaps: std::sync::Mutex<GapCache>,
    /// Breakdowns by attributes outside the cube, answered while current.
    attribute_cells: std::sync::Mutex<Option<std::sync::Arc<AttributeCells>>>,
    /// One build of the attribute cells at a time.
    attribute_build: Mutex<()>,
}

/// Whether attribute cells built at `built` still describe the data at
/// `now` (responses and customers unchanged; records do not matter).
fn attribute_versions_match(built: &DataVersions, now: &DataVersions) -> bool {
    built.rollups == now.rollups && built.customers == now.customers
}

/// Gap cells and targets of one (department, measure), with the data
/// versions read before them.
struct LoadedGap {
    versions: DataVersions,
    cells: Vec<GapCell>,
    targets: Vec<TargetCell>,
}

/// Gap cells per (department, measure) and when each was last used.
type GapCache = HashMap<(String, String), (std::sync::Arc<LoadedGap>, u64)>;

/// Departments × measures whose gap cells are kept, at most (the least
/// recently used goes first; each entry is as large as its cells).
const GAP_CACHE_ENTRIES: usize = 16;

/// Driver-moment cells and the data version read before them.
struct LoadedMoments {
    versions: DataVersions,
    /// Distinct driver sets and dimension combinations, which the cells
    /// point into: a request sums cells per set without hashing names.
    sets: Vec<crate::backend::DriverSet>,
    combinations: Vec<DimensionValues>,
    cells: Vec<IndexedMomentCell>,
}

/// A moment cell with its set and combination as indices.
struct IndexedMomentCell {
    day: Day,
    combination: u32,
    outcome: MomentOutcome,
    set: u32,
    moments: northstar_core::drivers::MomentSummary,
}

impl LoadedMoments {
    fn new(versions: DataVersions, cells: Vec<MomentCell>) -> Self {
        let mut sets = Vec::new();
        let mut set_index: HashMap<crate::backend::DriverSet, u32> = HashMap::new();
        let mut combinations = Vec::new();
        let mut combination_index: HashMap<DimensionValues, u32> = HashMap::new();
        let mut indexed = Vec::with_capacity(cells.len());
        for (day, dims, outcome, set, moments) in cells {
            let set = *set_index.entry(set.clone()).or_insert_with(|| {
                sets.push(set);
                (sets.len() - 1) as u32
            });
            let combination = *combination_index.entry(dims.clone()).or_insert_with(|| {
                combinations.push(dims);
                (combinations.len() - 1) as u32
            });
            indexed.push(IndexedMomentCell {
                day,
                combination,
                outcome,
                set,
                moments,
            });
        }
        Self {
            versions,
            sets,
            combinations,
            cells: indexed,
        }
    }
}

/// Which old days were read for a question: the day ranges and the filter.
type DaysRead = (Vec<(Day, Day)>, Vec<(Dimension, String)>);

/// Per dimension, values held by writes in flight and how many hold each.
type PendingValues = [HashMap<String, usize>; Dimension::COUNT];

/// The dimension values one write reserved while in flight.
struct Reservation([Vec<String>; Dimension::COUNT]);

/// Responses anonymised per transaction by retention.
const ANONYMISE_BATCH: u32 = 5_000;

/// An attribute as the database can take it: a name with a NUL character
/// names no stored column (text cannot hold one), so it is asked for as the
/// empty name, which no column has either — every response falls under "".
fn storable_attribute(attribute: &BreakdownAttribute) -> BreakdownAttribute {
    match attribute {
        BreakdownAttribute::Response(n) if n.contains('\0') => {
            BreakdownAttribute::Response(String::new())
        }
        BreakdownAttribute::Customer(n) if n.contains('\0') => {
            BreakdownAttribute::Customer(String::new())
        }
        other => other.clone(),
    }
}

/// A filter as the database can take it: a value with a NUL character can
/// match nothing stored (text cannot hold one) and is left out; `None` when
/// a dimension is left with no value at all (nothing matches).
fn storable_filter(filter: &[(Dimension, String)]) -> Option<Vec<(Dimension, String)>> {
    let mut kept: Vec<(Dimension, String)> = filter
        .iter()
        .filter(|(_, v)| !v.contains('\0'))
        .cloned()
        .collect();
    let emptied = Dimension::ALL
        .iter()
        .any(|d| filter.iter().any(|(fd, _)| fd == d) && !kept.iter().any(|(fd, _)| fd == d));
    // One order and no repeats, so equal selections share a cache entry.
    kept.sort();
    kept.dedup();
    (!emptied).then_some(kept)
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| {
        tracing::error!("a store lock was poisoned by a panic; recovering");
        mutex.clear_poison();
        poisoned.into_inner()
    })
}

/// Longest a request waits for a respondent scan slot before it is told the
/// store is busy (a queue of cache-missing requests must not hold every
/// request slot of the server).
const RESPONDENT_SCAN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads of old months' day cells (compacted out of the cube) at once.
const DAY_READS: usize = 2;

/// Respondent scans allowed at the same time.
const RESPONDENT_SCANS: usize = 2;

fn read(lock: &RwLock<Option<LoadedCube>>) -> RwLockReadGuard<'_, Option<LoadedCube>> {
    lock.read().unwrap_or_else(|poisoned| {
        tracing::error!("the rollup cube lock was poisoned by a panic; recovering");
        lock.clear_poison();
        poisoned.into_inner()
    })
}

fn write(lock: &RwLock<Option<LoadedCube>>) -> RwLockWriteGuard<'_, Option<LoadedCube>> {
    lock.write().unwrap_or_else(|poisoned| {
        tracing::error!("the rollup cube lock was poisoned by a panic; recovering");
        lock.clear_poison();
        poisoned.into_inner()
    })
}

impl CachedStore {
    /// How many driver-moment cells are stored, and whether they equal
    /// the moments of the raw responses.
    async fn moments_check(&self) -> StoreResult<(u64, bool)> {
        let mut stored = self.backend.driver_moment_cells().await?;
        let raw = self.backend.driver_moment_cells_from_raw().await?;
        stored.sort_by(|a, b| (a.0, &a.1, a.2, &a.3).cmp(&(b.0, &b.1, b.2, &b.3)));
        Ok((stored.len() as u64, stored == raw))
    }

    /// The gap cells and targets of one department and measure at the
    /// current data versions: cached, or read again after a write.
    async fn loaded_gap(
        &self,
        department: &str,
        measure: &str,
    ) -> StoreResult<std::sync::Arc<LoadedGap>> {
        let versions = self.backend.data_versions().await?;
        let key = (department.to_string(), measure.to_string());
        let now = self.uses.fetch_add(1, Ordering::Relaxed);
        let current = |loaded: &LoadedGap| {
            loaded.versions.rollups == versions.rollups
                && loaded.versions.operations == versions.operations
        };
        if let Some((loaded, used)) = lock(&self.gaps).get_mut(&key)
            && current(loaded)
        {
            *used = now;
            return Ok(loaded.clone());
        }
        // Read without holding the cache: other gaps are answered meanwhile.
        let of = Some((department, measure));
        let loaded = std::sync::Arc::new(LoadedGap {
            versions,
            cells: self.backend.gap_cells(of, false).await?,
            targets: self.backend.operation_targets(of, false).await?,
        });
        // Nothing linked (an unknown department or measure) is not kept, so
        // made-up names cannot push real entries out.
        if loaded.cells.is_empty() && loaded.targets.is_empty() {
            return Ok(loaded);
        }
        let mut gaps = lock(&self.gaps);
        if gaps.len() >= GAP_CACHE_ENTRIES
            && !gaps.contains_key(&key)
            && let Some(oldest) = gaps
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
        {
            gaps.remove(&oldest);
        }
        gaps.insert(key, (loaded.clone(), now));
        Ok(loaded)
    }

    /// The driver-moment cells at the current data version: the cached
    /// ones, or read again (one reader at a time) after a write.
    async fn loaded_moments(&self) -> StoreResult<std::sync::Arc<LoadedMoments>> {
        let versions = self.backend.data_versions().await?;
        let mut slot = self.moments.lock().await;
        if let Some(loaded) = slot.as_ref()
            && loaded.versions.rollups == versions.rollups
        {
            return Ok(loaded.clone());
        }
        // Versions first: a write between the two reads makes the cells
        // newer than the version, and the next call reads them again.
        let cells = self.backend.driver_moment_cells().await?;
        let loaded = std::sync::Arc::new(LoadedMoments::new(versions, cells));
        *slot = Some(loaded.clone());
        Ok(loaded)
    }

    /// Adds this process's own committed delta to its cube. When the
    /// backend cannot place it (another process wrote in between, or a
    /// reader already caught up past it), the next query replays the log.
    fn apply_own_delta(&self, delta: &RollupDelta) {
        let mut slot = write(&self.cube);
        if let Some(loaded) = slot.as_mut()
            && let Some(next) = self.backend.position_after(&loaded.position, delta)
        {
            for (day, dims, summary) in &delta.cells {
                loaded.cube.add(*day, dims, summary);
            }
            loaded.position = next;
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn new(backend: Box<dyn Backend>) -> Self {
        Self {
            backend,
            cube: RwLock::new(None),
            refresh: Mutex::new(()),
            loads: AtomicU64::new(0),
            replays: AtomicU64::new(0),
            respondents: std::sync::Mutex::new(HashMap::new()),
            loyalty: std::sync::Mutex::new(HashMap::new()),
            uses: AtomicU64::new(0),
            respondent_scans: tokio::sync::Semaphore::new(RESPONDENT_SCANS),
            pending_values: std::sync::Mutex::new(Default::default()),
            day_cell_months: Some(DEFAULT_DAY_CELL_MONTHS),
            day_reads: tokio::sync::Semaphore::new(DAY_READS),
            generation: AtomicU64::new(0),
            moments: Mutex::new(None),
            gaps: std::sync::Mutex::new(HashMap::new()),
            attribute_cells: std::sync::Mutex::new(None),
            attribute_build: Mutex::new(()),
        }
    }

    /// Keeps day cells for this many months (this month included); `None`
    /// or 0 keeps every day.
    pub fn with_day_cell_months(mut self, months: Option<u32>) -> Self {
        self.day_cell_months = months.filter(|m| *m > 0);
        self
    }

    /// The first month whose day cells the cube keeps, today.
    fn horizon(&self) -> Option<Month> {
        let months = i32::try_from(self.day_cell_months?).unwrap_or(i32::MAX);
        let today = calendar::day_of_unix(crate::schema::now_unix());
        Some(calendar::month_of_day(today).saturating_sub(months - 1))
    }

    /// Answers queries from the cube, reading from the database the day
    /// cells of older months a query starts or ends inside. The answer is
    /// one state of the data: if the cube changed while those days were
    /// read (a write committed), it asks again.
    async fn answer(&self, queries: &[CubeQuery]) -> StoreResult<Vec<CubeAnswer>> {
        for _ in 0..5 {
            // Usually the cube holds every day asked about: answer at once,
            // with one check of the log.
            let first = self
                .with_current_cube(|cube| {
                    let missing: Vec<Vec<(Day, Day)>> =
                        queries.iter().map(|q| cube.missing_days(q)).collect();
                    if missing.iter().all(Vec::is_empty) {
                        Ok(queries.iter().map(|q| cube.query(q)).collect())
                    } else {
                        Err((missing, self.generation.load(Ordering::Relaxed)))
                    }
                })
                .await?;
            let (missing, generation) = match first {
                Ok(answers) => return Ok(answers),
                Err(missing) => missing,
            };
            // One read per distinct (days, filter): a page's figures share them.
            let mut reads: Vec<(DaysRead, RollupCube)> = Vec::new();
            let mut read_of = Vec::with_capacity(queries.len());
            for (q, ranges) in queries.iter().zip(&missing) {
                let Some(filter) = storable_filter(&q.filter).filter(|_| !ranges.is_empty()) else {
                    read_of.push(None);
                    continue;
                };
                let key = (ranges.clone(), filter);
                if let Some(i) = reads.iter().position(|(k, _)| *k == key) {
                    read_of.push(Some(i));
                    continue;
                }
                let cube = self.read_days(&key.0, &key.1).await?;
                read_of.push(Some(reads.len()));
                reads.push((key, cube));
            }
            let empty = RollupCube::new();
            let answers = self
                .with_current_cube(|cube| {
                    // A write landed (or the horizon moved) meanwhile: ask again.
                    let same = self.generation.load(Ordering::Relaxed) == generation
                        && queries
                            .iter()
                            .zip(&missing)
                            .all(|(q, m)| cube.missing_days(q) == *m);
                    same.then(|| {
                        queries
                            .iter()
                            .zip(&read_of)
                            .map(|(q, r)| cube.query_with(q, r.map_or(&empty, |i| &reads[i].1)))
                            .collect()
                    })
                })
                .await?;
            if let Some(answers) = answers {
                return Ok(answers);
            }
        }
        Err(StoreError::Busy(
            "the data kept changing while days of old months were read; retry in a moment".into(),
        ))
    }

    /// A permit to scan raw responses (respondent counts, breakdowns by
    /// attribute, driver moments, expectation gaps, loyalty groups,
    /// weighting cells): a few at a time, so that analyses cannot crowd out
    /// the database; others wait up to [`RESPONDENT_SCAN_WAIT`], then get a
    /// busy error naming the limit.
    async fn scan_permit(&self) -> StoreResult<tokio::sync::SemaphorePermit<'_>> {
        tokio::time::timeout(RESPONDENT_SCAN_WAIT, self.respondent_scans.acquire())
            .await
            .map_err(|_| {
                StoreError::Busy(format!(
                    "{RESPONDENT_SCANS} scans of raw responses are running and others waited {} s; retry in a moment",
                    RESPONDENT_SCAN_WAIT.as_secs()
                ))
            })?
            .map_err(|_| StoreError::NotReady("the store is shutting down".into()))
    }

    /// The stored day cells of `ranges` that pass `filter`, as a cube; a
    /// few such reads at a time (each may hold two months of cells).
    async fn read_days(
        &self,
        ranges: &[(Day, Day)],
        filter: &[(Dimension, String)],
    ) -> StoreResult<RollupCube> {
        let _read = tokio::time::timeout(RESPONDENT_SCAN_WAIT, self.day_reads.acquire())
            .await
            .map_err(|_| {
                StoreError::Busy(format!(
                    "{DAY_READS} questions about single days of old months are running and others waited {} s; retry in a moment",
                    RESPONDENT_SCAN_WAIT.as_secs()
                ))
            })?
            .map_err(|_| StoreError::NotReady("the store is shutting down".into()))?;
        let mut cube = RollupCube::new();
        for &(from, to) in ranges {
            for (day, dims, summary) in self.backend.rollup_cells_between(from, to, filter).await? {
                cube.add(day, &dims, &summary);
            }
        }
        Ok(cube)
    }

    /// Runs `f` on a cube that includes every write committed before the
    /// call: one small read of the delta log when nothing changed, a replay
    /// of other processes' deltas when something did, a whole load only
    /// when the log no longer covers the gap.
    async fn with_current_cube<T>(&self, f: impl Fn(&RollupCube) -> T) -> StoreResult<T> {
        if let Some(answer) = self.catch_up(&f).await? {
            return Ok(answer);
        }
        // One load at a time; whoever waited may find the cube current.
        let _refreshing = self.refresh.lock().await;
        if let Some(answer) = self.catch_up(&f).await? {
            return Ok(answer);
        }
        let (position, cells) = self.backend.load_rollups().await?;
        self.loads.fetch_add(1, Ordering::Relaxed);
        let mut cube = RollupCube::new();
        cube.keep_days_from(self.horizon());
        for (day, dims, summary) in &cells {
            cube.add(*day, dims, summary);
        }
        cube.shrink_to_fit();
        tracing::info!(
            cells = cells.len(),
            combinations = cube.combinations(),
            "loaded rollup cube"
        );
        let answer = f(&cube);
        // Replacing whatever is there is right even if a write of ours was
        // applied meanwhile: the loaded position says which writes the
        // cells include, and the next catch-up replays the rest.
        let mut slot = write(&self.cube);
        *slot = Some(LoadedCube { position, cube });
        self.generation.fetch_add(1, Ordering::Relaxed);
        Ok(answer)
    }

    /// Brings the cube up to date from the delta log and answers, or says
    /// (`None`) that it must be loaded.
    async fn catch_up<T>(&self, f: &impl Fn(&RollupCube) -> T) -> StoreResult<Option<T>> {
        // A few tries: a concurrent replay or own write may move the cube
        // between the read of the log and the apply.
        if let Some(horizon) = self.horizon() {
            let behind = read(&self.cube)
                .as_ref()
                .is_some_and(|l| l.cube.days_kept_from().is_none_or(|h| h < horizon));
            if behind && let Some(loaded) = write(&self.cube).as_mut() {
                loaded.cube.keep_days_from(Some(horizon));
                self.generation.fetch_add(1, Ordering::Relaxed);
            }
        }
        for _ in 0..3 {
            let Some(position) = read(&self.cube)
                .as_ref()
                .filter(|l| !l.cube.is_inexact())
                .map(|l| l.position.clone())
            else {
                return Ok(None);
            };
            match self.backend.rollup_deltas_since(&position).await? {
                // The cube only moves forward: it includes at least this.
                DeltasSince::Current => {
                    // Only the cube that was checked: a load may have put an
                    // older one in its place meanwhile (then check again).
                    let guard = read(&self.cube);
                    if let Some(loaded) = guard.as_ref()
                        && loaded.position == position
                    {
                        return Ok(Some(f(&loaded.cube)));
                    }
                }
                DeltasSince::Replay { deltas, to } => {
                    let mut slot = write(&self.cube);
                    if let Some(loaded) = slot.as_mut()
                        && loaded.position == position
                    {
                        for delta in &deltas {
                            for (day, dims, summary) in &delta.cells {
                                loaded.cube.add(*day, dims, summary);
                            }
                        }
                        loaded.position = to;
                        self.replays.fetch_add(1, Ordering::Relaxed);
                        self.generation.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(replayed = deltas.len(), "rollup deltas replayed");
                        return Ok(Some(f(&loaded.cube)));
                    }
                }
                DeltasSince::Reload => {
                    tracing::info!("rollup delta log does not cover the gap; reloading");
                    return Ok(None);
                }
            }
        }
        Ok(None)
    }

    /// Refuses a batch that would take a dimension past
    /// [`MAX_DISTINCT_VALUES`], naming the dimension and the limit. Values
    /// of this process's writes still in flight count as present, so that
    /// concurrent batches cannot pass the limit together; the caller
    /// releases the returned reservation once its write is done.
    async fn check_distinct_values(&self, batch: &[NewResponse]) -> StoreResult<Reservation> {
        let mut new_values: [HashSet<&str>; Dimension::COUNT] = Default::default();
        for r in batch {
            for d in Dimension::ALL {
                new_values[d.index()].insert(r.dimensions.get(d));
            }
        }
        let present = self
            .with_current_cube(|cube| Dimension::ALL.map(|d| cube.values(d)))
            .await?;
        let mut pending = lock(&self.pending_values);
        for d in Dimension::ALL {
            let mut known: HashSet<&str> = present[d.index()].iter().map(String::as_str).collect();
            known.extend(pending[d.index()].keys().map(String::as_str));
            let added: Vec<&&str> = new_values[d.index()]
                .iter()
                .filter(|v| !known.contains(**v))
                .collect();
            if known.len() + added.len() > MAX_DISTINCT_VALUES {
                return Err(StoreError::Limit {
                    field: d.as_str().to_string(),
                    message: format!(
                        "this batch would add {} new {d} values to the {} present; at most {MAX_DISTINCT_VALUES} distinct values of a dimension are allowed, e.g. {:?}. Check the column holds {d} names, not ids or free text",
                        added.len(),
                        known.len(),
                        added.first().map(|v| **v).unwrap_or_default(),
                    ),
                });
            }
        }
        let mut reserved: [Vec<String>; Dimension::COUNT] = Default::default();
        for d in Dimension::ALL {
            for v in &new_values[d.index()] {
                *pending[d.index()].entry((*v).to_string()).or_default() += 1;
                reserved[d.index()].push((*v).to_string());
            }
        }
        Ok(Reservation(reserved))
    }

    async fn write_responses_redacting(
        &self,
        batch: Vec<NewResponse>,
        redact: bool,
    ) -> StoreResult<WriteSummary> {
        if batch.is_empty() {
            return Ok(WriteSummary::default());
        }
        let reservation = self.check_distinct_values(&batch).await?;
        let written = self.backend.write_responses(batch, redact).await;
        self.release(reservation);
        let written = written?;
        if let Some(delta) = &written.delta {
            self.apply_own_delta(delta);
        }
        Ok(written.summary)
    }

    /// Whether the setting [`REDACT_PERSONAL_DATA`] is on; read on every
    /// write of customers or operational records (another process may have
    /// changed it).
    async fn redacting(&self) -> StoreResult<bool> {
        Ok(self.backend.setting(REDACT_PERSONAL_DATA).await?.as_deref() == Some("on"))
    }

    fn release(&self, reservation: Reservation) {
        let mut pending = lock(&self.pending_values);
        for d in Dimension::ALL {
            for v in &reservation.0[d.index()] {
                if let Some(n) = pending[d.index()].get_mut(v) {
                    *n -= 1;
                    if *n == 0 {
                        pending[d.index()].remove(v);
                    }
                }
            }
        }
    }
}

/// Masks personal data in the values of extra columns.
fn mask_values(attributes: &mut std::collections::BTreeMap<String, String>) {
    for value in attributes.values_mut() {
        *value = personal_data::mask(value);
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn migrate(&self) -> StoreResult<()> {
        self.backend.migrate().await
    }

    async fn check_ready(&self) -> StoreResult<()> {
        self.backend.check_ready().await
    }

    async fn write_responses(&self, batch: Vec<NewResponse>) -> StoreResult<WriteSummary> {
        // Redacted inside the write's transaction: no extra await here, so
        // the batches of one import reach the database in file order.
        self.write_responses_redacting(batch, true).await
    }

    async fn write_copied_responses(&self, batch: Vec<NewResponse>) -> StoreResult<WriteSummary> {
        self.write_responses_redacting(batch, false).await
    }

    async fn erase_customer(&self, customer_id: &str) -> StoreResult<Erased> {
        let written = self.backend.erase_customer(customer_id).await?;
        if let Some(delta) = &written.delta {
            self.apply_own_delta(delta);
        }
        Ok(written.erased)
    }

    async fn anonymise_before(&self, before_unix: i64) -> StoreResult<Erased> {
        let mut total = Erased::default();
        let mut after = None;
        // Bounded transactions: memory and lock time do not grow with the
        // table; the cursor reads each old response once in all.
        loop {
            let batch = self
                .backend
                .anonymise_before(before_unix, after.as_deref(), ANONYMISE_BATCH)
                .await?;
            total.responses += batch.responses;
            total.operations += batch.operations;
            total.invitations += batch.invitations;
            let more_responses = batch.looked_at == u64::from(ANONYMISE_BATCH);
            if batch.last.is_some() {
                after = batch.last;
            }
            if !more_responses
                && batch.operations < u64::from(ANONYMISE_BATCH)
                && batch.invitations < u64::from(ANONYMISE_BATCH)
            {
                return Ok(total);
            }
        }
    }

    async fn response(&self, external_id: &str) -> StoreResult<Option<NewResponse>> {
        self.backend.response(external_id).await
    }

    async fn list_responses(&self, query: &ResponseListQuery) -> StoreResult<Vec<NewResponse>> {
        let Some(filter) = storable_filter(&query.selection.filter) else {
            return Ok(Vec::new());
        };
        if query
            .before
            .as_ref()
            .is_some_and(|(_, id)| id.contains('\0'))
        {
            return Ok(Vec::new());
        }
        let query = ResponseListQuery {
            selection: RespondentQuery {
                filter,
                ..query.selection.clone()
            },
            limit: query.limit.clamp(1, MAX_RESPONSE_PAGE),
            ..query.clone()
        };
        self.backend.list_responses(&query).await
    }

    async fn write_customers(&self, mut batch: Vec<NewCustomer>) -> StoreResult<WriteSummary> {
        if self.redacting().await? {
            for c in &mut batch {
                mask_values(&mut c.attributes);
            }
        }
        self.write_copied_customers(batch).await
    }

    async fn write_copied_customers(&self, batch: Vec<NewCustomer>) -> StoreResult<WriteSummary> {
        // Segments are compared with the respondents' row by row on every
        // overview: bounded like a dimension.
        let present: HashSet<String> = self
            .backend
            .customer_segments(None)
            .await?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let added: HashSet<&str> = batch
            .iter()
            .filter_map(|c| c.segment.as_deref())
            .filter(|s| !present.contains(*s))
            .collect();
        if present.len() + added.len() > MAX_DISTINCT_VALUES {
            return Err(StoreError::Limit {
                field: "segment".into(),
                message: format!(
                    "this batch would add {} new customer segments to the {} present; at most {MAX_DISTINCT_VALUES} distinct segments are allowed. Check the column holds segment names, not ids or free text",
                    added.len(),
                    present.len()
                ),
            });
        }
        self.backend.write_customers(batch).await
    }

    async fn write_operations(&self, mut batch: Vec<NewOperation>) -> StoreResult<WriteSummary> {
        if self.redacting().await? {
            for o in &mut batch {
                mask_values(&mut o.attributes);
            }
        }
        self.backend.write_operations(batch).await
    }

    async fn write_copied_operations(&self, batch: Vec<NewOperation>) -> StoreResult<WriteSummary> {
        self.backend.write_operations(batch).await
    }

    async fn query_rollups(&self, query: &CubeQuery) -> StoreResult<CubeAnswer> {
        let mut answers = self.answer(std::slice::from_ref(query)).await?;
        answers
            .pop()
            .ok_or_else(|| StoreError::NotReady("no answer".into()))
    }

    async fn query_rollups_many(&self, queries: &[CubeQuery]) -> StoreResult<Vec<CubeAnswer>> {
        self.answer(queries).await
    }

    async fn dimension_values(&self, dimension: Dimension) -> StoreResult<Vec<String>> {
        self.with_current_cube(|cube| cube.values(dimension)).await
    }

    async fn customer_segments(&self, active_from: Option<Day>) -> StoreResult<Vec<(String, u64)>> {
        self.backend.customer_segments(active_from).await
    }

    async fn respondents_by_segment(
        &self,
        query: &RespondentQuery,
    ) -> StoreResult<RespondentCounts> {
        let Some(filter) = storable_filter(&query.filter) else {
            return Ok(RespondentCounts::default());
        };
        let query = &RespondentQuery {
            filter,
            from: query.from,
            to: query.to,
        };
        let versions = self.backend.data_versions().await?;
        let now = self.uses.fetch_add(1, Ordering::Relaxed);
        let cache = || {
            self.respondents.lock().unwrap_or_else(|poisoned| {
                tracing::error!("the respondent cache lock was poisoned by a panic; recovering");
                self.respondents.clear_poison();
                poisoned.into_inner()
            })
        };
        if let Some((v, used, counts)) = cache().get_mut(query)
            && *v == versions
        {
            *used = now;
            return Ok(counts.clone());
        }
        let counts = {
            let _scan = tokio::time::timeout(
                RESPONDENT_SCAN_WAIT,
                self
                .respondent_scans
                .acquire(),
            )
            .await
            .map_err(|_| {
                StoreError::Busy(format!(
                    "{RESPONDENT_SCANS} counts of who answered are running and others waited {} s; retry in a moment",
                    RESPONDENT_SCAN_WAIT.as_secs()
                ))
            })?
            .map_err(|_| StoreError::NotReady("the store is shutting down".into()))?;
            self.backend.respondents_by_segment(query).await?
        };
        let mut entries = cache();
        if entries.len() >= RESPONDENT_CACHE_ENTRIES
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (_, used, _))| *used)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(query.clone(), (versions, now, counts.clone()));
        Ok(counts)
    }

    async fn attribute_summaries(
        &self,
        query: &RespondentQuery,
        attribute: &BreakdownAttribute,
        limit: usize,
    ) -> StoreResult<AttributeSummaries> {
        let Some(filter) = storable_filter(&query.filter) else {
            return Ok(AttributeSummaries::default());
        };
        let query = RespondentQuery {
            filter,
            ..query.clone()
        };
        let attribute = storable_attribute(attribute);
        let cells = lock(&self.attribute_cells).clone();
        if let Some(cells) = cells
            && attribute_versions_match(&cells.versions, &self.backend.data_versions().await?)
            && let Some(answer) = cells.summaries(&query, &attribute, limit)
        {
            return Ok(answer);
        }
        let _scan = self.scan_permit().await?;
        self.backend
            .attribute_summaries(&query, &attribute, limit)
            .await
    }

    async fn gap_counts(&self, query: &GapQuery) -> StoreResult<GapCounts> {
        let Some(filter) = storable_filter(&query.responses.filter) else {
            return Ok(GapCounts::default());
        };
        if query.department.contains('\0') || query.measure.contains('\0') {
            // No stored text holds a NUL: nothing matches.
            return Ok(GapCounts::default());
        }
        let loaded = self.loaded_gap(&query.department, &query.measure).await?;
        let responses = &query.responses;
        // Merge the selected cells per measure value (cells come in value order).
        let mut by_value: Vec<(f64, i64, i64)> = Vec::new();
        let mut period: Option<(Day, Day)> = None;
        for (_, _, value, day, dims, satisfied, answered) in loaded.cells.iter() {
            if responses.from.is_some_and(|f| *day < f)
                || responses.to.is_some_and(|t| *day > t)
                || !dimensions_pass(dims, &filter)
            {
                continue;
            }
            if *answered != 0 {
                period = Some(period.map_or((*day, *day), |(a, b)| (a.min(*day), b.max(*day))));
            }
            match by_value.last_mut() {
                Some(last) if last.0 == *value => {
                    last.1 += satisfied;
                    last.2 += answered;
                }
                _ => by_value.push((*value, *satisfied, *answered)),
            }
        }
        by_value.retain(|v| v.2 != 0);
        // The department's own target: the most common one (ties: the smallest).
        let mut targets: Vec<(f64, i64)> = loaded.targets.iter().map(|t| (t.2, t.3)).collect();
        targets.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.total_cmp(&b.0)));
        Ok(GapCounts {
            by_value,
            target: targets.first().copied(),
            other_targets: targets.iter().skip(1).map(|t| t.1).sum(),
            period,
        })
    }

    async fn loyalty_customers(
        &self,
        query: &RespondentQuery,
        by: Option<LoyaltyBy>,
    ) -> StoreResult<Vec<(String, northstar_core::revenue::LoyaltyCustomers)>> {
        let Some(filter) = storable_filter(&query.filter) else {
            return Ok(Vec::new());
        };
        let query = RespondentQuery {
            filter,
            ..query.clone()
        };
        let versions = self.backend.data_versions().await?;
        let now = self.uses.fetch_add(1, Ordering::Relaxed);
        let cache = || {
            self.loyalty.lock().unwrap_or_else(|poisoned| {
                tracing::error!("the loyalty cache lock was poisoned by a panic; recovering");
                self.loyalty.clear_poison();
                poisoned.into_inner()
            })
        };
        let key = (query, by);
        if let Some((v, used, groups)) = cache().get_mut(&key)
            && *v == versions
        {
            *used = now;
            return Ok(groups.clone());
        }
        let groups = {
            let _scan = self.scan_permit().await?;
            self.backend.loyalty_customers(&key.0, by).await?
        };
        let mut entries = cache();
        if entries.len() >= RESPONDENT_CACHE_ENTRIES
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (_, used, _))| *used)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(key, (versions, now, groups.clone()));
        Ok(groups)
    }

    async fn respondent_cells(
        &self,
        query: &RespondentQuery,
        attributes: &[BreakdownAttribute],
        limit: usize,
    ) -> StoreResult<Vec<northstar_core::weighting::RespondentCell>> {
        let Some(filter) = storable_filter(&query.filter) else {
            return Ok(Vec::new());
        };
        let query = RespondentQuery {
            filter,
            ..query.clone()
        };
        let attributes: Vec<BreakdownAttribute> =
            attributes.iter().map(storable_attribute).collect();
        let _scan = self.scan_permit().await?;
        self.backend
            .respondent_cells(&query, &attributes, limit)
            .await
    }

    async fn customer_margin(
        &self,
        attribute: &BreakdownAttribute,
        active_from: Option<Day>,
        limit: usize,
    ) -> StoreResult<Vec<(String, u64)>> {
        self.backend
            .customer_margin(&storable_attribute(attribute), active_from, limit)
            .await
    }

    async fn driver_moments(
        &self,
        query: &RespondentQuery,
        outcome: northstar_core::Metric,
    ) -> StoreResult<crate::DriverMoments> {
        let Some(filter) = storable_filter(&query.filter) else {
            return Ok(crate::DriverMoments::default());
        };
        let outcome = MomentOutcome::of(outcome);
        let loaded = self.loaded_moments().await?;
        let selected: Vec<bool> = loaded
            .combinations
            .iter()
            .map(|dims| dimensions_pass(dims, &filter))
            .collect();
        // Per set: the merged moments and the first and last day.
        let mut per_set: Vec<Option<(northstar_core::drivers::MomentSummary, (Day, Day))>> =
            vec![None; loaded.sets.len()];
        for c in &loaded.cells {
            if c.outcome != outcome
                || query.from.is_some_and(|f| c.day < f)
                || query.to.is_some_and(|t| c.day > t)
                || !selected[c.combination as usize]
            {
                continue;
            }
            match &mut per_set[c.set as usize] {
                Some((m, days)) => {
                    m.try_merge(&c.moments).map_err(|e| {
                        StoreError::Corrupt(format!(
                            "driver moments of one set differ in width: {e}"
                        ))
                    })?;
                    *days = (days.0.min(c.day), days.1.max(c.day));
                }
                slot => *slot = Some((c.moments.clone(), (c.day, c.day))),
            }
        }
        crate::DriverMoments::from_cells(
            per_set
                .iter()
                .zip(&loaded.sets)
                .filter_map(|(merged, set)| merged.as_ref().map(|(m, days)| (*days, set, m))),
        )
    }

    async fn rebuild_rollups(&self) -> StoreResult<u64> {
        let cells = self.backend.rebuild_rollups().await?;
        // The rebuild left no delta: the next query reloads.
        *write(&self.cube) = None;
        self.generation.fetch_add(1, Ordering::Relaxed);
        Ok(cells)
    }

    async fn change_time_zone(&self, zone: &str, actor: &str) -> StoreResult<TimeZoneChanged> {
        let zone = crate::settings::check_setting(crate::settings::TIME_ZONE, zone)
            .map_err(StoreError::Refused)?;
        let changed = self
            .backend
            .put_time_zone(&zone, actor, crate::schema::now_unix())
            .await?;
        // Every cell may have moved: load the rebuilt table now.
        *write(&self.cube) = None;
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.with_current_cube(|_| ()).await?;
        Ok(changed)
    }

    async fn verify_rollups(&self) -> StoreResult<RollupCheck> {
        let stored = self.backend.rollup_cells().await?;
        let rebuilt = self.backend.rollup_cells_from_raw().await?;
        type MonthCell = (Month, DimensionValues, ResponseSummary);
        let (horizon, mut cube_days, mut cube_months): (
            Option<Month>,
            Vec<RollupCell>,
            Vec<MonthCell>,
        ) = self
            .with_current_cube(|cube| {
                let horizon = cube.days_kept_from();
                let months = horizon.map_or_else(Vec::new, |h| {
                    cube.month_cells_before(h)
                        .map(|(m, v, s)| (m, v, *s))
                        .collect()
                });
                (
                    horizon,
                    cube.cells().map(|(d, v, s)| (d, v, *s)).collect(),
                    months,
                )
            })
            .await?;
        cube_days.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        cube_months.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        // Before the horizon the cube keeps month totals: compare those
        // with the stored days summed by month.
        let first_kept = horizon.map_or(Day::MIN, calendar::first_day_of_month);
        let stored_days: Vec<RollupCell> = stored
            .iter()
            .filter(|c| c.0 >= first_kept)
            .cloned()
            .collect();
        let mut stored_months: std::collections::BTreeMap<
            (Month, DimensionValues),
            ResponseSummary,
        > = Default::default();
        for (day, dims, summary) in stored.iter().filter(|c| c.0 < first_kept) {
            stored_months
                .entry((calendar::month_of_day(*day), dims.clone()))
                .or_insert_with(ResponseSummary::empty)
                .merge(summary);
        }
        let stored_months: Vec<MonthCell> = stored_months
            .into_iter()
            .map(|((m, d), s)| (m, d, s))
            .collect();
        let moments = self.moments_check().await?;
        let gaps_equal_raw = self.backend.gap_cells(None, false).await?
            == self.backend.gap_cells(None, true).await?
            && self.backend.operation_targets(None, false).await?
                == self.backend.operation_targets(None, true).await?;
        Ok(RollupCheck {
            stored_cells: stored.len() as u64,
            stored_equals_raw: stored == rebuilt && moments.1 && gaps_equal_raw,
            gaps_equal_raw,
            moment_cells: moments.0,
            moments_equal_raw: moments.1,
            cube_equals_stored: cube_days == stored_days && cube_months == stored_months,
        })
    }

    async fn counts(&self) -> StoreResult<StoreCounts> {
        self.backend.counts().await
    }

    async fn refresh_attribute_cells(&self) -> StoreResult<Option<crate::AttributeCellsBuilt>> {
        let _building = self.attribute_build.lock().await;
        let versions = self.backend.data_versions().await?;
        if lock(&self.attribute_cells)
            .as_ref()
            .is_some_and(|c| attribute_versions_match(&c.versions, &versions))
        {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let mut builder = AttributeCellsBuilder::default();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .backend
                .attribute_rows_after(after.as_deref(), crate::attribute_cells::BUILD_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.external_id.clone());
            for row in &page {
                builder.add(row);
            }
            if page.len() < crate::attribute_cells::BUILD_PAGE as usize {
                break;
            }
        }
        let cells = builder.finish(versions);
        let built = crate::AttributeCellsBuilt {
            responses: cells.responses,
            cells: cells.cells(),
            seconds: started.elapsed().as_secs_f64(),
            dropped: cells.dropped.len(),
        };
        *lock(&self.attribute_cells) = Some(std::sync::Arc::new(cells));
        Ok(Some(built))
    }

    fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    fn cube_status(&self) -> CubeStatus {
        CubeStatus {
            loaded: read(&self.cube).is_some(),
            loads: self.loads.load(Ordering::Relaxed),
            replays: self.replays.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic while the cube was held must not take every later query down.
    #[test]
    fn a_poisoned_cube_lock_is_recovered() {
        let lock = std::sync::Arc::new(RwLock::new(Some(LoadedCube {
            position: CubePosition::Serial(7),
            cube: RollupCube::new(),
        })));
        let held = lock.clone();
        let _ = std::thread::spawn(move || {
            let _guard = held.write();
            panic!("poison the lock");
        })
        .join();
        assert!(lock.is_poisoned());
        assert_eq!(
            read(&lock).as_ref().map(|l| l.position.clone()),
            Some(CubePosition::Serial(7))
        );
        assert!(!lock.is_poisoned(), "cleared once recovered");
        write(&lock).take();
        assert!(read(&lock).is_none());
    }
}
