//! Northstar's persistence. Raw rows are the source of truth; rollups of
//! response summaries are written in the same transaction as the raw rows and
//! can always be rebuilt from them. Handlers see only the [`Store`] trait.

pub mod accounts;
pub mod attribute_cells;
pub mod backend;
mod cached;
pub mod copy;
pub mod departments;
mod error;
pub mod import;
mod postgres;
mod schema;
pub mod settings;
mod sqlite;
pub mod survey_records;
pub mod test_db;
pub mod value_records;

use std::sync::Arc;

use async_trait::async_trait;
use northstar_core::calendar::Day;
use northstar_core::customer::NewCustomer;
use northstar_core::operation::NewOperation;
use northstar_core::response::NewResponse;
use northstar_core::rollup::{CubeAnswer, CubeQuery};
use northstar_core::{Dimension, DimensionValues, ResponseSummary};

pub use backend::{
    AttributeSummaries, Backend, BreakdownAttribute, CubePosition, DriverMoments, Erased,
    GapCounts, GapQuery, LoyaltyBy, MAX_DRIVER_SETS, MAX_RESPONSE_PAGE, RespondentCounts,
    RespondentQuery, ResponseListQuery, TimeZoneChanged,
};
pub use cached::{CachedStore, DEFAULT_DAY_CELL_MONTHS, MAX_DISTINCT_VALUES};
pub use error::{StoreError, StoreResult};
pub use postgres::{DEFAULT_POOL_SIZE, PostgresStore, redact};
pub use sqlite::SqliteStore;

/// What a write did with the rows it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteSummary {
    /// Rows whose key was new.
    pub inserted: u64,
    /// Rows that replaced a stored row with different content.
    pub replaced: u64,
    /// Rows identical to what was stored (nothing changed).
    pub unchanged: u64,
}

impl WriteSummary {
    pub fn add(&mut self, other: WriteSummary) {
        self.inserted += other.inserted;
        self.replaced += other.replaced;
        self.unchanged += other.unchanged;
    }

    pub fn accepted(&self) -> u64 {
        self.inserted + self.replaced + self.unchanged
    }
}

/// One rollup cell: a day, a dimension combination and its summary.
pub type RollupCell = (Day, DimensionValues, ResponseSummary);

/// What a build of the in-memory attribute cells read and holds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AttributeCellsBuilt {
    pub responses: u64,
    pub cells: usize,
    pub seconds: f64,
    /// Attributes left to the database (too many values or cells).
    pub dropped: usize,
}

/// How many rows each table holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreCounts {
    pub responses: u64,
    pub customers: u64,
    pub operations: u64,
    pub rollup_cells: u64,
    /// Writes whose rollup deltas the log still holds (at most 64).
    pub logged_deltas: u64,
}

/// The outcome of [`Store::verify_rollups`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RollupCheck {
    pub stored_cells: u64,
    /// `rollups_daily`, `driver_moments_daily`, `gap_cells` and
    /// `operation_targets` equal a rebuild from the raw rows.
    pub stored_equals_raw: bool,
    pub moment_cells: u64,
    /// `driver_moments_daily` equals the moments of the raw responses.
    pub moments_equal_raw: bool,
    /// `gap_cells` and `operation_targets` equal a join of the raw rows.
    pub gaps_equal_raw: bool,
    /// The in-memory cube equals `rollups_daily`.
    pub cube_equals_stored: bool,
}

/// Everything the server and CLI need from a database. Object-safe, so the
/// server holds an `Arc<dyn Store>` and compiles its router once. The one
/// implementation is [`CachedStore`] over a [`Backend`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;

    /// Succeeds when the database answers and every migration is applied.
    async fn check_ready(&self) -> StoreResult<()>;

    /// Inserts or replaces responses by `external_id` and updates the
    /// rollups in the same transaction; returns after the commit. A batch
    /// must not name an id twice, nor take a dimension past
    /// [`MAX_DISTINCT_VALUES`] values (`StoreError::Limit`). When the
    /// setting [`settings::REDACT_PERSONAL_DATA`] is on, personal data in
    /// comments and attribute values is masked before anything is stored.
    async fn write_responses(&self, batch: Vec<NewResponse>) -> StoreResult<WriteSummary>;

    /// [`Store::write_responses`] without redaction: for `copy`, which must
    /// carry responses exactly as the source holds them.
    async fn write_copied_responses(&self, batch: Vec<NewResponse>) -> StoreResult<WriteSummary>;

    /// One stored response by its external id.
    async fn response(&self, external_id: &str) -> StoreResult<Option<NewResponse>>;

    /// Erases a customer: its responses (rollups decremented exactly, other
    /// processes' caches follow), its customer record, its operational
    /// records and its survey invitations. Erasing again, or an unknown id,
    /// removes nothing.
    async fn erase_customer(&self, customer_id: &str) -> StoreResult<Erased>;

    /// Retention: clears the personal fields (customer_id, comment,
    /// order_id, attributes) of responses submitted before `before_unix`,
    /// and customer_id of operational records before it, and deletes the
    /// survey invitations made before it, in bounded transactions. Scores and dimensions stay, so every figure and trend
    /// is unchanged while nothing links an old answer to a person.
    async fn anonymise_before(&self, before_unix: i64) -> StoreResult<Erased>;

    /// Responses newest first, by a keyset cursor, at most
    /// [`MAX_RESPONSE_PAGE`] per call.
    async fn list_responses(&self, query: &ResponseListQuery) -> StoreResult<Vec<NewResponse>>;

    /// Inserts or replaces customers by `customer_id` (extra columns masked
    /// like comments when redaction is on).
    async fn write_customers(&self, batch: Vec<NewCustomer>) -> StoreResult<WriteSummary>;
    /// [`Store::write_customers`] without redaction (for `copy`).
    async fn write_copied_customers(&self, batch: Vec<NewCustomer>) -> StoreResult<WriteSummary>;

    /// Inserts or replaces operational records by (department, order_id, measure).
    async fn write_operations(&self, batch: Vec<NewOperation>) -> StoreResult<WriteSummary>;
    /// [`Store::write_operations`] without redaction (for `copy`).
    async fn write_copied_operations(&self, batch: Vec<NewOperation>) -> StoreResult<WriteSummary>;

    /// Answers a rollup query from the in-memory cube, first replaying the
    /// rollup deltas of writes by other processes.
    async fn query_rollups(&self, query: &CubeQuery) -> StoreResult<CubeAnswer>;

    /// Answers several queries from one snapshot of the cube, so that the
    /// figures on one page agree with each other.
    async fn query_rollups_many(&self, queries: &[CubeQuery]) -> StoreResult<Vec<CubeAnswer>>;

    /// Distinct values of a dimension present in the rollups.
    async fn dimension_values(&self, dimension: Dimension) -> StoreResult<Vec<String>>;

    /// Customers per segment (customers without a segment not counted),
    /// leaving out customers who churned before `active_from`; kept on write.
    async fn customer_segments(&self, active_from: Option<Day>) -> StoreResult<Vec<(String, u64)>>;

    /// Distinct respondents with an NPS answer in a selection, per segment.
    async fn respondents_by_segment(
        &self,
        query: &RespondentQuery,
    ) -> StoreResult<RespondentCounts>;

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

    /// Customers by loyalty group (their latest NPS answer in the selection)
    /// with churn flags and annual values, per group key ("" without `by`).
    async fn loyalty_customers(
        &self,
        query: &RespondentQuery,
        by: Option<LoyaltyBy>,
    ) -> StoreResult<Vec<(String, northstar_core::revenue::LoyaltyCustomers)>>;

    /// Respondents who are known customers in cells of customer attributes,
    /// with their responses' summary (see [`Backend::respondent_cells`]).
    async fn respondent_cells(
        &self,
        query: &RespondentQuery,
        attributes: &[BreakdownAttribute],
        limit: usize,
    ) -> StoreResult<Vec<northstar_core::weighting::RespondentCell>>;

    /// Customers per value of one customer attribute (see
    /// [`Backend::customer_margin`]).
    async fn customer_margin(
        &self,
        attribute: &BreakdownAttribute,
        active_from: Option<Day>,
        limit: usize,
    ) -> StoreResult<Vec<(String, u64)>>;

    /// Driver moments of a selection by driver set (see
    /// [`Backend::driver_moments`]).
    async fn driver_moments(
        &self,
        query: &RespondentQuery,
        outcome: northstar_core::Metric,
    ) -> StoreResult<DriverMoments>;

    /// Re-derives every response's day in the organisation's time zone and
    /// replaces the rollup table by a rebuild from raw responses.
    async fn rebuild_rollups(&self) -> StoreResult<u64>;

    /// Changes the organisation's time zone (an IANA name, checked here):
    /// every stored day and the rollups are re-derived in one transaction
    /// ([`Backend::put_time_zone`]), audited under `actor`, then this
    /// process's cube is reloaded. Says how many responses moved day.
    async fn change_time_zone(&self, zone: &str, actor: &str) -> StoreResult<TimeZoneChanged>;

    /// Compares the rollup table with a rebuild from raw rows, and the
    /// in-memory cube with the table.
    async fn verify_rollups(&self) -> StoreResult<RollupCheck>;

    /// Builds the in-memory attribute cells again if the data moved since
    /// they were built (a pass over every response: run it in the
    /// background); `None` when they were current.
    async fn refresh_attribute_cells(&self) -> StoreResult<Option<AttributeCellsBuilt>>;

    /// Row counts per table.
    async fn counts(&self) -> StoreResult<StoreCounts>;

    /// The persistence layer underneath: accounts and sessions (nothing to
    /// cache) are read and written through it, and tools and tests inspect it.
    fn backend(&self) -> &dyn Backend;

    /// How the in-memory cube has been kept current.
    fn cube_status(&self) -> CubeStatus;
}

/// How a process's cube has been kept current: whole loads of the rollup
/// table and catch-ups that replayed other processes' deltas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CubeStatus {
    /// Whether the cube has been loaded yet.
    pub loaded: bool,
    pub loads: u64,
    pub replays: u64,
}

/// How an audit entry names an erased customer: an HMAC-SHA256 of its id
/// under a secret this database generates once (the setting
/// [`settings::AUDIT_KEY`], copied with the audit log). The log proves the
/// request was carried out — whoever holds the id and the database can
/// check it (`northstar audit --customer ID`) — without keeping the id, and
/// unlike a plain hash it cannot be reversed by trying every short id.
pub async fn customer_reference(store: &dyn Store, customer_id: &str) -> StoreResult<String> {
    use hmac::{Hmac, Mac};
    let key = store
        .backend()
        .setting_or_insert(
            settings::AUDIT_KEY,
            &accounts::new_token(),
            schema::now_unix(),
        )
        .await?;
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.as_bytes())
        .map_err(|e| StoreError::Corrupt(format!("the audit key: {e}")))?;
    mac.update(customer_id.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok(format!("customer hmac:{hex}"))
}

/// Erases a customer and records it in the audit log (counts only, no
/// personal data); returns what was removed and the reference the log
/// names the customer by.
pub async fn erase_customer_audited(
    store: &dyn Store,
    customer_id: &str,
    actor: &str,
) -> StoreResult<(Erased, String)> {
    let reference = customer_reference(store, customer_id).await?;
    let erased = store.erase_customer(customer_id).await?;
    store
        .backend()
        .append_audit(&accounts::AuditEntry {
            at_unix: schema::now_unix(),
            actor: actor.to_string(),
            action: "erase.customer".into(),
            target: reference.clone(),
            detail: format!(
                "{} responses, {} customer records, {} operational records, {} survey invitations removed",
                erased.responses, erased.customers, erased.operations, erased.invitations
            ),
        })
        .await?;
    Ok((erased, reference))
}

/// Anonymises responses submitted before `before_unix` (see
/// [`Store::anonymise_before`]) and records it in the audit log.
pub async fn apply_retention_audited(
    store: &dyn Store,
    before_unix: i64,
    months: u32,
    actor: &str,
) -> StoreResult<Erased> {
    let done = store.anonymise_before(before_unix).await?;
    store
        .backend()
        .append_audit(&accounts::AuditEntry {
            at_unix: schema::now_unix(),
            actor: actor.to_string(),
            action: "retention.apply".into(),
            target: format!("older than {months} months"),
            detail: format!(
                "{} responses and {} operational records anonymised, {} survey invitations removed",
                done.responses, done.operations, done.invitations
            ),
        })
        .await?;
    Ok(done)
}

/// Default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://northstar.db";

/// Whether a URL names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Months of day cells the in-memory cube keeps; `None` or 0: every day.
    pub day_cell_months: Option<u32>,
    /// Most database connections (PostgreSQL; SQLite uses a few of its own).
    pub pool_size: u32,
    /// SQLite page cache per connection, in MiB.
    pub sqlite_cache_mib: u32,
}

/// SQLite page cache per connection unless told otherwise, in MiB: sized
/// for bulk imports (index inserts of millions of rows).
pub const DEFAULT_SQLITE_CACHE_MIB: u32 = 64;

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            day_cell_months: Some(DEFAULT_DAY_CELL_MONTHS),
            pool_size: postgres::DEFAULT_POOL_SIZE,
            sqlite_cache_mib: DEFAULT_SQLITE_CACHE_MIB,
        }
    }
}

/// Opens the store a URL names (`postgres://…`, or SQLite: `sqlite://path`,
/// `sqlite:path` or a plain file path) and applies migrations.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    open_with(url, OpenOptions::default()).await
}

/// [`open`] with explicit options.
pub async fn open_with(url: &str, options: OpenOptions) -> StoreResult<Arc<dyn Store>> {
    let backend: Box<dyn Backend> = if is_postgres_url(url) {
        Box::new(PostgresStore::connect(url, options.pool_size).await?)
    } else if let Some((scheme, _)) = url.split_once("://").filter(|(s, _)| *s != "sqlite") {
        return Err(StoreError::UnsupportedUrl {
            url: redact(url),
            reason: format!(
                "unknown scheme {scheme:?}; use sqlite://path/to/file.db or postgres://user@host/database"
            ),
        });
    } else {
        Box::new(SqliteStore::connect_with_cache(url, options.sqlite_cache_mib).await?)
    };
    let store: Arc<dyn Store> =
        Arc::new(CachedStore::new(backend).with_day_cell_months(options.day_cell_months));
    store.migrate().await?;
    Ok(store)
}
