//! The PostgreSQL backend: several servers and importers write at once.
//!
//! - A write locks the stored rows it replaces (`FOR UPDATE`, in key order),
//!   so the old answers it retracts from the rollups are the latest ones; a
//!   new key that another writer inserted meanwhile sends the write round
//!   again, as does a deadlock or serialization failure.
//! - Rollups are counters that writers add to (`ON CONFLICT … DO UPDATE SET
//!   c = c + EXCLUDED.c`), cells in one sorted order.
//! - The delta log is keyed by transaction id and read against snapshots
//!   ([`CubePosition::Snapshot`]), so no row is updated by every writer.
//! - Rows travel as arrays (`unnest`), one statement per table per batch.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use northstar_core::account::Role;
use northstar_core::calendar::Day;
use northstar_core::customer::NewCustomer;
use northstar_core::operation::NewOperation;
use northstar_core::response::NewResponse;
use northstar_core::{Dimension, DimensionValues, ResponseSummary};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row};

use crate::accounts::TOKEN_USE_GRANULARITY;
use crate::accounts::{self, ApiToken, AuditEntry, AuditQuery, NewUser, Session, User, UserChange};
use crate::backend::AnonymisedBatch;
use crate::backend::{
    self, Backend, CubePosition, DataVersions, DeltasSince, DriverSet, Erased, ErasureWritten,
    MAX_RESPONSE_PAGE, MomentCell, MomentOutcome, OperationKey, RespondentCounts, RespondentQuery,
    ResponseListQuery, ResponsesWritten, RollupDelta, TimeZoneChanged,
};
use crate::backend::{GapCell, TargetCell};
use crate::schema::{
    self, COUNTER_COLUMNS, DELTA_LOG_SECONDS, DELTA_LOG_VERSIONS, DIMENSION_COLUMNS, NEVER_CHURNED,
    changes, json_map, json_text,
};
use crate::settings::{self, Setting};
use crate::{AttributeSummaries, BreakdownAttribute, GapCounts, GapQuery};
use crate::{RollupCell, StoreCounts, StoreError, StoreResult, WriteSummary};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per server process. Each request needs at most one at a
/// time; a write holds one for its transaction.
pub const DEFAULT_POOL_SIZE: u32 = 10;

/// How many times a write is tried when it loses a race (a concurrent
/// insert of the same key, a deadlock, a serialization failure).
const WRITE_ATTEMPTS: u32 = 8;

/// Shards of each data version (see the migration).
const VERSION_SHARDS: i32 = 16;

/// Delta rows without payload are deleted after this long; a cube read
/// before the deletion reloads.
const DELTA_ROWS_KEPT: &str = "7 days";

type Tx = sqlx::Transaction<'static, Postgres>;

/// A PostgreSQL database.
pub struct PostgresStore {
    pool: PgPool,
}

/// A write lost a race and must be tried again from the start.
struct Raced;

fn retryable(e: &sqlx::Error) -> bool {
    // 40P01 deadlock_detected, 40001 serialization_failure.
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}

/// Runs one attempt of a write; `Ok(None)` means it raced and was rolled
/// back.
async fn attempt<T>(
    result: Result<Result<T, Raced>, StoreError>,
    tries: u32,
) -> StoreResult<Option<T>> {
    match result {
        Ok(Ok(v)) => Ok(Some(v)),
        Ok(Err(Raced)) => Ok(None),
        Err(StoreError::Database(e)) if retryable(&e) && tries + 1 < WRITE_ATTEMPTS => {
            tracing::debug!(error = %e, "write lost a race; trying again");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn back_off(tries: u32) {
    // A few milliseconds, growing, so that racing writers fall out of step.
    tokio::time::sleep(Duration::from_millis(2 << tries.min(6))).await;
}

fn raced_too_often() -> StoreError {
    StoreError::Busy(format!(
        "a write lost {WRITE_ATTEMPTS} races in a row with concurrent writers of the same keys; retry it"
    ))
}

/// A parsed `pg_snapshot`: which transactions it sees.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    xmin: u64,
    xmax: u64,
    in_progress: Vec<u64>,
}

impl Snapshot {
    /// Parses `xmin:xmax:xip,xip,…`.
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, ':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let in_progress = match parts.next()? {
            "" => Vec::new(),
            list => list
                .split(',')
                .map(|x| x.parse().ok())
                .collect::<Option<Vec<u64>>>()?,
        };
        Some(Self {
            xmin,
            xmax,
            in_progress,
        })
    }

    /// Whether a committed transaction's effects are visible (the rule of
    /// `pg_visible_in_snapshot`).
    fn sees(&self, xid: u64) -> bool {
        xid < self.xmin || (xid < self.xmax && !self.in_progress.contains(&xid))
    }
}

fn cell_from_row(row: &PgRow) -> StoreResult<RollupCell> {
    let day: i32 = row.try_get(0)?;
    let mut dims = DimensionValues::default();
    for d in Dimension::ALL {
        dims.set(d, row.try_get(1 + d.index())?);
    }
    let mut counters = [0i64; ResponseSummary::COUNTERS];
    for (i, c) in counters.iter_mut().enumerate() {
        *c = row.try_get(schema::FIRST_COUNTER + i)?;
    }
    Ok((day, dims, ResponseSummary::from_counters(&counters)))
}

fn small(v: Option<i16>, column: &str) -> StoreResult<Option<u8>> {
    schema::opt_u8(v.map(i64::from), column)
}

schema::row_decoders!(PgRow);

fn response_from_row(row: &PgRow) -> StoreResult<NewResponse> {
    let mut dims = DimensionValues::default();
    for d in Dimension::ALL {
        dims.set(d, row.try_get(d.as_str())?);
    }
    Ok(NewResponse {
        external_id: row.try_get("external_id")?,
        customer_id: row.try_get("customer_id")?,
        submitted_at: row.try_get("submitted_at")?,
        submitted_unix: row.try_get("submitted_unix")?,
        dimensions: dims,
        nps: small(row.try_get("nps")?, "nps")?,
        csat: small(row.try_get("csat")?, "csat")?,
        ces: small(row.try_get("ces")?, "ces")?,
        fcr: row.try_get("fcr")?,
        comment: row.try_get("comment")?,
        order_id: row.try_get("order_id")?,
        drivers: json_map(row.try_get::<&str, _>("drivers")?, "drivers")?,
        attributes: json_map(row.try_get::<&str, _>("attributes")?, "attributes")?,
    })
}

/// Every column of a response, JSON columns as text.
static RESPONSE_OUTPUT_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let columns: Vec<String> = schema::RESPONSE_COLUMNS
        .names()
        .map(|c| match c {
            "drivers" | "attributes" => format!("{c}::text AS {c}"),
            _ => c.to_string(),
        })
        .collect();
    columns.join(", ")
});

/// `SELECT` every column of a response `FROM responses`.
const RESPONSE_SELECT: ResponseSelect = ResponseSelect;

struct ResponseSelect;

impl std::fmt::Display for ResponseSelect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SELECT {} FROM responses", *RESPONSE_OUTPUT_COLUMNS)
    }
}

/// The columns of a set of responses as arrays, bound as `$1…$17`, and
/// their days in `zone` as `$18`, read back by [`RESPONSE_UNNEST`].
fn bind_responses<'q>(
    mut q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    rows: &[&'q NewResponse],
    zone: &jiff::tz::TimeZone,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    // Borrowed, not copied: a batch is 50,000 rows of a dozen strings.
    let text =
        |f: &dyn Fn(&'q NewResponse) -> &'q str| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let opt = |f: &dyn Fn(&'q NewResponse) -> Option<&'q str>| {
        rows.iter().map(|r| f(r)).collect::<Vec<_>>()
    };
    let score = |f: &dyn Fn(&NewResponse) -> Option<u8>| {
        rows.iter().map(|r| f(r).map(i16::from)).collect::<Vec<_>>()
    };
    q = q
        .bind(text(&|r| r.external_id.as_str()))
        .bind(opt(&|r| r.customer_id.as_deref()))
        .bind(text(&|r| r.submitted_at.as_str()))
        .bind(rows.iter().map(|r| r.submitted_unix).collect::<Vec<i64>>());
    for d in Dimension::ALL {
        q = q.bind(text(&|r| r.dimensions.get(d)));
    }
    q.bind(score(&|r| r.nps))
        .bind(score(&|r| r.csat))
        .bind(score(&|r| r.ces))
        .bind(rows.iter().map(|r| r.fcr).collect::<Vec<Option<bool>>>())
        .bind(opt(&|r| r.comment.as_deref()))
        .bind(opt(&|r| r.order_id.as_deref()))
        .bind(
            rows.iter()
                .map(|r| json_text(&r.drivers))
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|r| json_text(&r.attributes))
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.day_in(zone)).collect::<Vec<Day>>())
}

/// `unnest($1::text[], …) AS t(external_id, …)`: the bound arrays as rows,
/// typed column by column in [`schema::RESPONSE_COLUMNS`] order.
static RESPONSE_UNNEST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let types = ["text", "text", "text", "int8"]
        .into_iter()
        .chain(Dimension::ALL.map(|_| "text"))
        .chain([
            "int2", "int2", "int2", "bool", "text", "text", "text", "text", "int4",
        ]);
    let arrays: Vec<String> = types
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", i + 1))
        .collect();
    format!(
        "unnest({}) AS t({}, day)",
        arrays.join(", "),
        schema::RESPONSE_COLUMNS
    )
});

impl PostgresStore {
    /// A transaction for a write of the department records
    /// ([`crate::departments`]).
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Stores the time zone setting and re-derives days and rollups, in one
    /// transaction; audited unless it is a copy (`audit` false).
    async fn set_time_zone(&self, setting: &Setting, audit: bool) -> StoreResult<TimeZoneChanged> {
        let zone = settings::stored_time_zone(Some(&setting.value))?;
        let mut tx = self.pool.begin().await?;
        // Waits for writes in flight (they hold SHARE on settings) and
        // holds new ones until this commits.
        sqlx::query("LOCK TABLE settings IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let old: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(settings::TIME_ZONE)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_unix, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
             updated_unix = excluded.updated_unix, updated_by = excluded.updated_by",
        )
        .bind(settings::TIME_ZONE)
        .bind(&setting.value)
        .bind(setting.updated_unix)
        .bind(&setting.updated_by)
        .execute(&mut *tx)
        .await?;
        if audit {
            sqlx::query(
                "INSERT INTO audit_log (at_unix, actor, action, target, detail) VALUES ($1, $2, 'setting.change', $3, $4)",
            )
            .bind(setting.updated_unix)
            .bind(&setting.updated_by)
            .bind(settings::TIME_ZONE)
            .bind(settings::change_detail(old.as_deref(), &setting.value))
            .execute(&mut *tx)
            .await?;
        }
        let changed = rebucket_and_rebuild(&mut tx, &zone).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Connects to the database a `postgres://` URL names.
    pub async fn connect(url: &str, pool_size: u32) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        // One connection first: its error says what is wrong (refused,
        // unknown database, password) where a pool would only time out.
        let probe = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::ConnectOptions::connect(&options),
        )
        .await
        .map_err(|_| {
            StoreError::NotReady(format!(
                "no answer from PostgreSQL at {} within 10 s; is the host right and the port open?",
                redact(url)
            ))
        })?
        .map_err(|e| explain_connect_error(url, e))?;
        let _ = sqlx::Connection::close(probe).await;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| explain_connect_error(url, e))?;
        Ok(Self { pool })
    }

    /// One attempt at a response write.
    async fn try_write_responses(
        &self,
        rows: &[NewResponse],
        redact: bool,
    ) -> StoreResult<Result<ResponsesWritten, Raced>> {
        let mut tx = self.pool.begin().await?;
        // Waits for a setting's change in progress (put_setting holds
        // SHARE ROW EXCLUSIVE), so no batch that read "off" commits after a
        // change to "on" did, and none that read the old time zone commits
        // after a change of zone; writers do not block each other.
        sqlx::query("LOCK TABLE settings IN SHARE MODE")
            .execute(&mut *tx)
            .await?;
        let stored: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM settings WHERE key IN ($1, $2)")
                .bind(settings::REDACT_PERSONAL_DATA)
                .bind(settings::TIME_ZONE)
                .fetch_all(&mut *tx)
                .await?;
        let stored_value = |key: &str| {
            stored
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let zone = settings::stored_time_zone(stored_value(settings::TIME_ZONE))?;
        let redacted;
        let rows = if redact && stored_value(settings::REDACT_PERSONAL_DATA) == Some("on") {
            let mut copy = rows.to_vec();
            settings::redact_responses(&mut copy);
            redacted = copy;
            &redacted[..]
        } else {
            rows
        };
        let ids: Vec<&str> = rows.iter().map(|r| r.external_id.as_str()).collect();
        // The latest stored version of each row, locked until commit.
        let stored = sqlx::query(AssertSqlSafe(format!(
            "SELECT {}, day FROM responses WHERE external_id = ANY($1) ORDER BY external_id FOR UPDATE",
            *RESPONSE_OUTPUT_COLUMNS
        )))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut existing = HashMap::with_capacity(stored.len());
        let mut stored_days: HashMap<String, Day> = HashMap::with_capacity(stored.len());
        for row in &stored {
            let r = response_from_row(row)?;
            stored_days.insert(r.external_id.clone(), row.try_get::<Day, _>("day")?);
            existing.insert(r.external_id.clone(), r);
        }
        let (summary, changes) = changes(rows, &existing, |r| r.external_id.clone());
        if changes.is_empty() {
            tx.commit().await?;
            return Ok(Ok(ResponsesWritten {
                summary,
                delta: None,
            }));
        }
        let mut inserted: Vec<&NewResponse> = changes
            .iter()
            .filter(|(_, old)| old.is_none())
            .map(|(new, _)| *new)
            .collect();
        inserted.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        let replaced: Vec<&NewResponse> = changes
            .iter()
            .filter(|(_, old)| old.is_some())
            .map(|(new, _)| *new)
            .collect();
        if !inserted.is_empty() {
            // A plain insert (no ON CONFLICT: speculative insertion costs
            // about 70% more here). A key another writer inserted after our
            // read fails it with a unique violation: read again.
            let sql = format!(
                "INSERT INTO responses ({columns}, day) SELECT {columns}, day FROM {unnest}",
                columns = schema::RESPONSE_COLUMNS,
                unnest = *RESPONSE_UNNEST,
            );
            let insert = bind_responses(sqlx::query(AssertSqlSafe(sql)), &inserted, &zone)
                .execute(&mut *tx)
                .await;
            if lost_insert_race(insert)? {
                tx.rollback().await?;
                return Ok(Err(Raced));
            }
        }
        if !replaced.is_empty() {
            let sets: Vec<String> = schema::RESPONSE_COLUMNS
                .names()
                .chain(["day"])
                .filter(|c| *c != "external_id")
                .map(|c| format!("{c} = t.{c}"))
                .collect();
            let sql = format!(
                "UPDATE responses r SET {} FROM {} WHERE r.external_id = t.external_id",
                sets.join(", "),
                *RESPONSE_UNNEST
            );
            bind_responses(sqlx::query(AssertSqlSafe(sql)), &replaced, &zone)
                .execute(&mut *tx)
                .await?;
        }
        let (cells, retracted_days) = schema::rollup_deltas(&changes, &zone, &stored_days);
        add_to_rollups(&mut tx, &cells).await?;
        log_moments(
            &mut tx,
            &schema::moment_deltas(&changes, &zone, &stored_days),
        )
        .await?;
        let orders = schema::linked_orders(
            changes
                .iter()
                .flat_map(|(new, old)| std::iter::once(*new).chain(*old)),
        );
        if !orders.is_empty() {
            lock_orders(&mut tx, &orders).await?;
            let operations = operations_by_order(&mut tx, &orders).await?;
            apply_gap(
                &mut tx,
                &schema::GapDelta::responses_changed(&changes, &zone, &stored_days, &operations),
            )
            .await?;
        }
        if !retracted_days.is_empty() {
            delete_emptied_days(&mut tx, &retracted_days).await?;
        }
        let xid = log_delta(&mut tx, Some(&backend::encode_cells(&cells)), false).await?;
        bump_data_version(&mut tx, "rollups").await?;
        tx.commit().await?;
        Ok(Ok(ResponsesWritten {
            summary,
            delta: Some(RollupDelta { id: xid, cells }),
        }))
    }

    async fn try_erase_customer(&self, customer_id: &str) -> StoreResult<ErasureWritten> {
        let mut tx = self.pool.begin().await?;
        let columns = &*RESPONSE_OUTPUT_COLUMNS;
        // The rows as deleted, locked by the delete itself: the decrement
        // is exactly what left the table.
        let rows = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM responses WHERE customer_id = $1 RETURNING {columns}, day"
        )))
        .bind(customer_id)
        .fetch_all(&mut *tx)
        .await?;
        let removed = rows
            .iter()
            .map(|row| Ok((response_from_row(row)?, row.try_get::<Day, _>("day")?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let mut erased = Erased {
            responses: removed.len() as u64,
            ..Erased::default()
        };
        let customer = sqlx::query(
            "DELETE FROM customers WHERE customer_id = $1 RETURNING customer_id, segment, region, \
             annual_value, churned, churned_on, acquired_on, attributes::text AS attributes",
        )
        .bind(customer_id)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(customer_from_row)
        .transpose()?;
        erased.customers = u64::from(customer.is_some());
        for ((segment, day), n) in schema::customer_removal_deltas(customer.as_ref()) {
            let day = i32::try_from(day).unwrap_or(i32::MAX);
            sqlx::query(
                "UPDATE customer_segment_counts SET customers = customers + $3 WHERE segment = $1 AND churned_day = $2",
            )
            .bind(&segment)
            .bind(day)
            .bind(n)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM customer_segment_counts WHERE segment = $1 AND churned_day = $2 AND customers = 0",
            )
            .bind(&segment)
            .bind(day)
            .execute(&mut *tx)
            .await?;
        }
        // A pilot's groups name the customer too (personal data): the
        // erased customer leaves them, as their answers leave the evaluation.
        sqlx::query("DELETE FROM pilot_assignments WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&mut *tx)
            .await?;
        // So do its survey invitations, which hold its address (its
        // opt-out stays: only a hash of the address is kept).
        erased.invitations = sqlx::query("DELETE FROM invitations WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let removed_operations = sqlx::query(
            "DELETE FROM operations WHERE customer_id = $1 \
             RETURNING order_id, department, measure, value, target",
        )
        .bind(customer_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(gap_operation_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
        erased.operations = removed_operations.len() as u64;
        if erased.customers > 0 || erased.responses > 0 {
            bump_data_version(&mut tx, "customers").await?;
        }
        let mut delta = None;
        if !removed.is_empty() {
            let (cells, days) = schema::removal_deltas(&removed);
            add_to_rollups(&mut tx, &cells).await?;
            log_moments(&mut tx, &schema::removal_moment_deltas(&removed)).await?;
            delete_emptied_days(&mut tx, &days).await?;
            let xid = log_delta(&mut tx, Some(&backend::encode_cells(&cells)), false).await?;
            bump_data_version(&mut tx, "rollups").await?;
            delta = Some(RollupDelta { id: xid, cells });
        }
        // Order buckets after the rollup cells, in the order a response write
        // takes them (no deadlock between the two).
        // The links of what left, with what stays and with each other.
        let removed_links: Vec<schema::GapResponse> = removed
            .iter()
            .filter_map(|(r, day)| schema::GapResponse::of(r, *day))
            .collect();
        let response_orders = distinct_orders(removed_links.iter().map(|r| &r.order_id));
        let operation_orders = distinct_orders(removed_operations.iter().map(|o| &o.order_id));
        lock_orders(
            &mut tx,
            &distinct_orders(response_orders.iter().chain(&operation_orders)),
        )
        .await?;
        let operations_left = operations_by_order(&mut tx, &response_orders).await?;
        let responses_left = responses_by_order(&mut tx, &operation_orders).await?;
        apply_gap(
            &mut tx,
            &schema::GapDelta::removed(
                &removed_links,
                &removed_operations,
                &operations_left,
                &responses_left,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(ErasureWritten { erased, delta })
    }

    async fn try_write_customers(
        &self,
        rows: &[NewCustomer],
    ) -> StoreResult<Result<WriteSummary, Raced>> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<&str> = rows.iter().map(|c| c.customer_id.as_str()).collect();
        let stored = sqlx::query(
            "SELECT customer_id, segment, region, annual_value, churned, churned_on, acquired_on, attributes::text AS attributes \
             FROM customers WHERE customer_id = ANY($1) ORDER BY customer_id FOR UPDATE",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut existing = HashMap::with_capacity(stored.len());
        for row in &stored {
            let c = customer_from_row(row)?;
            existing.insert(c.customer_id.clone(), c);
        }
        let (summary, changes) = changes(rows, &existing, |c| c.customer_id.clone());
        if changes.is_empty() {
            tx.commit().await?;
            return Ok(Ok(summary));
        }
        let mut changed: Vec<&NewCustomer> = changes.iter().map(|(new, _)| *new).collect();
        changed.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        let new_keys = changes.iter().filter(|(_, old)| old.is_none()).count() as u64;
        // Inserts and updates in one statement: a key that another writer
        // inserted since our read counts as an update here, which the
        // `xmax = 0` test (a fresh insert) tells apart.
        let fresh: i64 = sqlx::query_scalar(
            "WITH written AS (INSERT INTO customers (customer_id, segment, region, annual_value, churned, churned_on, acquired_on, attributes) \
             SELECT customer_id, segment, region, annual_value, churned, churned_on, acquired_on, attributes \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::bool[], $6::int4[], $7::int4[], $8::text[]) \
             AS t(customer_id, segment, region, annual_value, churned, churned_on, acquired_on, attributes) \
             ON CONFLICT (customer_id) DO UPDATE SET segment = EXCLUDED.segment, region = EXCLUDED.region, \
             annual_value = EXCLUDED.annual_value, churned = EXCLUDED.churned, churned_on = EXCLUDED.churned_on, acquired_on = EXCLUDED.acquired_on, \
             attributes = EXCLUDED.attributes RETURNING (xmax = 0) AS fresh) \
             SELECT COUNT(*) FILTER (WHERE fresh) FROM written",
        )
        .bind(changed.iter().map(|c| c.customer_id.clone()).collect::<Vec<_>>())
        .bind(changed.iter().map(|c| c.segment.clone()).collect::<Vec<_>>())
        .bind(changed.iter().map(|c| c.region.clone()).collect::<Vec<_>>())
        .bind(changed.iter().map(|c| c.annual_value).collect::<Vec<_>>())
        .bind(changed.iter().map(|c| c.churned).collect::<Vec<_>>())
        .bind(changed.iter().map(|c| c.churned_on).collect::<Vec<_>>())
        .bind(changed.iter().map(|c| c.acquired_on).collect::<Vec<_>>())
        .bind(
            changed
                .iter()
                .map(|c| json_text(&c.attributes))
                .collect::<Vec<_>>(),
        )
        .fetch_one(&mut *tx)
        .await?;
        if fresh as u64 != new_keys {
            tx.rollback().await?;
            return Ok(Err(Raced));
        }
        let counts = schema::customer_count_deltas(&changes);
        if !counts.is_empty() {
            sqlx::query(
                "INSERT INTO customer_segment_counts (segment, churned_day, customers) \
                 SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[]) \
                 ON CONFLICT (segment, churned_day) DO UPDATE SET customers = customer_segment_counts.customers + EXCLUDED.customers",
            )
            .bind(counts.iter().map(|((s, _), _)| s.clone()).collect::<Vec<_>>())
            .bind(
                counts
                    .iter()
                    .map(|((_, d), _)| i32::try_from(*d).unwrap_or(i32::MAX))
                    .collect::<Vec<_>>(),
            )
            .bind(counts.iter().map(|(_, n)| *n).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM customer_segment_counts WHERE customers = 0 AND (segment, churned_day) IN \
                 (SELECT * FROM unnest($1::text[], $2::int4[]))",
            )
            .bind(counts.iter().map(|((s, _), _)| s.clone()).collect::<Vec<_>>())
            .bind(
                counts
                    .iter()
                    .map(|((_, d), _)| i32::try_from(*d).unwrap_or(i32::MAX))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
        }
        bump_data_version(&mut tx, "customers").await?;
        tx.commit().await?;
        Ok(Ok(summary))
    }

    async fn try_write_operations(
        &self,
        rows: &[NewOperation],
    ) -> StoreResult<Result<WriteSummary, Raced>> {
        let key = operation_key;
        let mut tx = self.pool.begin().await?;
        let stored = sqlx::query(
            "SELECT department, order_id, measure, customer_id, occurred_at, occurred_unix, value, target, \
             attributes::text AS attributes FROM operations WHERE (department, order_id, measure) IN \
             (SELECT * FROM unnest($1::text[], $2::text[], $3::text[])) \
             ORDER BY department, order_id, measure FOR UPDATE",
        )
        .bind(rows.iter().map(|o| o.department.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|o| o.order_id.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|o| o.measure.clone()).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        let mut existing = HashMap::with_capacity(stored.len());
        for row in &stored {
            let o = operation_from_row(row)?;
            existing.insert(key(&o), o);
        }
        let (summary, changes) = changes(rows, &existing, key);
        if changes.is_empty() {
            tx.commit().await?;
            return Ok(Ok(summary));
        }
        let mut changed: Vec<&NewOperation> = changes.iter().map(|(new, _)| *new).collect();
        changed.sort_by(|a, b| {
            (&a.department, &a.order_id, &a.measure).cmp(&(&b.department, &b.order_id, &b.measure))
        });
        // New keys by a plain insert: a key another writer inserted after
        // our read fails it with a unique violation, and the batch is read
        // again (the links and targets derive from what was replaced, so
        // "last writer wins" without knowing what it replaced would count
        // the other writer's record twice). Stored keys are locked above.
        let columns = "department, order_id, measure, customer_id, occurred_at, occurred_unix, value, target, attributes";
        let unnest = "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::float8[], $8::float8[], $9::text[]) \
             AS t(department, order_id, measure, customer_id, occurred_at, occurred_unix, value, target, attributes)";
        let bind = |sql: String, rows: &[&NewOperation]| {
            sqlx::query(AssertSqlSafe(sql))
                .bind(
                    rows.iter()
                        .map(|o| o.department.clone())
                        .collect::<Vec<_>>(),
                )
                .bind(rows.iter().map(|o| o.order_id.clone()).collect::<Vec<_>>())
                .bind(rows.iter().map(|o| o.measure.clone()).collect::<Vec<_>>())
                .bind(
                    rows.iter()
                        .map(|o| o.customer_id.clone())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    rows.iter()
                        .map(|o| o.occurred_at.clone())
                        .collect::<Vec<_>>(),
                )
                .bind(rows.iter().map(|o| o.occurred_unix).collect::<Vec<_>>())
                .bind(rows.iter().map(|o| o.value).collect::<Vec<_>>())
                .bind(rows.iter().map(|o| o.target).collect::<Vec<_>>())
                .bind(
                    rows.iter()
                        .map(|o| json_text(&o.attributes))
                        .collect::<Vec<_>>(),
                )
        };
        let is_new = |o: &&NewOperation| !existing.contains_key(&key(o));
        let inserted: Vec<&NewOperation> = changed.iter().copied().filter(is_new).collect();
        let replaced: Vec<&NewOperation> = changed.iter().copied().filter(|o| !is_new(o)).collect();
        if !inserted.is_empty() {
            let insert = bind(
                format!("INSERT INTO operations ({columns}) SELECT {columns} FROM {unnest}"),
                &inserted,
            )
            .execute(&mut *tx)
            .await;
            if lost_insert_race(insert)? {
                tx.rollback().await?;
                return Ok(Err(Raced));
            }
        }
        if !replaced.is_empty() {
            bind(
                format!(
                    "UPDATE operations o SET customer_id = t.customer_id, occurred_at = t.occurred_at, \
                     occurred_unix = t.occurred_unix, value = t.value, target = t.target, attributes = t.attributes \
                     FROM {unnest} WHERE (o.department, o.order_id, o.measure) = (t.department, t.order_id, t.measure)"
                ),
                &replaced,
            )
            .execute(&mut *tx)
            .await?;
        }
        let orders = distinct_orders(changed.iter().map(|o| &o.order_id));
        lock_orders(&mut tx, &orders).await?;
        let responses = responses_by_order(&mut tx, &orders).await?;
        apply_gap(
            &mut tx,
            &schema::GapDelta::operations_changed(&changes, &responses),
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(summary))
    }

    /// Every rollup cell, sorted like [`crate::RollupCell`]s compare (the
    /// database's collation may order text differently).
    async fn cells(&self, sql: String) -> StoreResult<Vec<RollupCell>> {
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        let mut cells = rows
            .iter()
            .map(cell_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        cells.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(cells)
    }
}

fn operation_key(o: &NewOperation) -> String {
    json_text(&[&o.department, &o.order_id, &o.measure])
}

fn explain_connect_error(url: &str, e: sqlx::Error) -> StoreError {
    let shown = redact(url);
    if let sqlx::Error::Database(d) = &e {
        let hint = match d.code().as_deref() {
            Some("3D000") => {
                "create it first, e.g. `createdb --owner <role> <name>` as a superuser (docs/deploy.md)"
            }
            Some("28P01" | "28000") => {
                "check the user name and password in the URL (or ~/.pgpass) and pg_hba.conf"
            }
            _ => "",
        };
        if !hint.is_empty() {
            return StoreError::NotReady(format!("{} at {shown}; {hint}", d.message()));
        }
    }
    if let sqlx::Error::Io(io) = &e {
        return StoreError::NotReady(format!(
            "cannot reach PostgreSQL at {shown}: {io}; is the server running and is the host and port right?"
        ));
    }
    StoreError::Database(e)
}

/// A URL with its password (in the authority or a `password` parameter)
/// replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        // Not a URL (a SQLite path): nothing secret in it.
        return url.to_string();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Adds delta cells to the rollup counters, in key order.
async fn add_to_rollups(tx: &mut Tx, cells: &[RollupCell]) -> StoreResult<()> {
    if cells.is_empty() {
        return Ok(());
    }
    let mut arrays: Vec<String> = vec!["$1::int4[]".into()];
    arrays.extend((2..=6).map(|i| format!("${i}::text[]")));
    arrays.extend((7..7 + ResponseSummary::COUNTERS).map(|i| format!("${i}::int8[]")));
    let updates: Vec<String> = COUNTER_COLUMNS
        .iter()
        .map(|c| format!("{c} = rollups_daily.{c} + EXCLUDED.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO rollups_daily (day, {DIMENSION_COLUMNS}, {counters}) SELECT * FROM unnest({arrays}) \
         ON CONFLICT (day, {DIMENSION_COLUMNS}) DO UPDATE SET {updates}",
        counters = COUNTER_COLUMNS.join(", "),
        arrays = arrays.join(", "),
        updates = updates.join(", "),
    );
    let mut q =
        sqlx::query(AssertSqlSafe(sql)).bind(cells.iter().map(|c| c.0).collect::<Vec<Day>>());
    for d in Dimension::ALL {
        q = q.bind(
            cells
                .iter()
                .map(|c| c.1.get(d).to_string())
                .collect::<Vec<_>>(),
        );
    }
    let counters: Vec<[i64; ResponseSummary::COUNTERS]> =
        cells.iter().map(|c| c.2.to_counters()).collect();
    for i in 0..ResponseSummary::COUNTERS {
        q = q.bind(counters.iter().map(|c| c[i]).collect::<Vec<i64>>());
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Adds moment cells to `driver_moments_daily` element by element (the fold
/// and the rebuild write into an emptied table).
async fn add_to_moments(tx: &mut Tx, cells: &[MomentCell]) -> StoreResult<()> {
    if !cells.is_empty() {
        let sql = format!(
            "INSERT INTO driver_moments_daily (day, {DIMENSION_COLUMNS}, outcome, drivers, n, moments) \
             SELECT day, {DIMENSION_COLUMNS}, outcome, drivers, n, moments::float8[] FROM unnest($1::int4[], \
             $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], $10::text[]) \
             AS t(day, {DIMENSION_COLUMNS}, outcome, drivers, n, moments) \
             ON CONFLICT (day, {DIMENSION_COLUMNS}, outcome, drivers) DO UPDATE SET \
             n = driver_moments_daily.n + EXCLUDED.n, \
             moments = (SELECT array_agg(a + b ORDER BY i) \
               FROM unnest(driver_moments_daily.moments, EXCLUDED.moments) WITH ORDINALITY AS u(a, b, i))"
        );
        let mut bodies = Vec::with_capacity(cells.len());
        for (_, _, _, _, m) in cells {
            let body = schema::moment_json(&schema::moment_body(m)?);
            // A PostgreSQL array literal: {1,2,3}.
            bodies.push(format!("{{{}}}", &body[1..body.len() - 1]));
        }
        let mut q =
            sqlx::query(AssertSqlSafe(sql)).bind(cells.iter().map(|c| c.0).collect::<Vec<Day>>());
        for d in Dimension::ALL {
            q = q.bind(
                cells
                    .iter()
                    .map(|c| c.1.get(d).to_string())
                    .collect::<Vec<_>>(),
            );
        }
        q.bind(cells.iter().map(|c| c.2.code()).collect::<Vec<_>>())
            .bind(cells.iter().map(|c| c.3.encode()).collect::<Vec<_>>())
            .bind(cells.iter().map(|c| c.4.n()).collect::<Vec<i64>>())
            .bind(bodies)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The moments of every stored response, computed from the rows (streamed:
/// memory follows the cells, not the rows).
async fn raw_moment_cells(conn: &mut sqlx::PgConnection) -> StoreResult<Vec<MomentCell>> {
    use futures_util::TryStreamExt;
    let mut deltas = schema::FastMap::default();
    let mut chunk: Vec<(NewResponse, Day)> = Vec::with_capacity(schema::MOMENT_SCAN_CHUNK);
    let mut rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {}, day::int8 AS day FROM responses WHERE nps IS NOT NULL OR csat IS NOT NULL",
        *RESPONSE_OUTPUT_COLUMNS
    )))
    .fetch(conn);
    while let Some(row) = rows.try_next().await? {
        let r = response_from_row(&row)?;
        let day: i64 = row.try_get("day")?;
        let day = Day::try_from(day)
            .map_err(|_| StoreError::Corrupt(format!("response day {day} is out of range")))?;
        chunk.push((r, day));
        if chunk.len() == schema::MOMENT_SCAN_CHUNK {
            schema::add_moments(&mut deltas, chunk.iter().map(|(r, d)| (r, *d)), false);
            chunk.clear();
        }
    }
    schema::add_moments(&mut deltas, chunk.iter().map(|(r, d)| (r, *d)), false);
    Ok(schema::sorted_moment_cells(deltas))
}

/// The rows of `driver_moments_daily` as they are (without the log).
async fn table_moment_cells(conn: &mut sqlx::PgConnection) -> StoreResult<Vec<MomentCell>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT day, {DIMENSION_COLUMNS}, outcome, drivers, n, moments FROM driver_moments_daily"
    )))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let set = DriverSet::decode(row.try_get("drivers")?)?;
            let body: Vec<f64> = row.try_get("moments")?;
            let m = schema::moment_from_stored(&set, row.try_get("n")?, &body)?;
            let mut dims = DimensionValues::default();
            for d in Dimension::ALL {
                dims.set(d, row.try_get(1 + d.index())?);
            }
            Ok((
                row.try_get::<Day, _>("day")?,
                dims,
                MomentOutcome::from_code(row.try_get("outcome")?)?,
                set,
                m,
            ))
        })
        .collect()
}

/// Advisory lock that lets one writer at a time fold the moment log.
const MOMENT_FOLD_LOCK: (i32, i32) = (ORDER_LOCK_CLASS, -1);

/// Appends a write's moment deltas to the log (one row: concurrent writers
/// never wait on moment rows), and every [`schema::MOMENT_LOG_FOLD`] rows
/// folds the log into the table — one folder at a time; a writer that finds
/// another folding leaves it to them.
async fn log_moments(tx: &mut Tx, delta: &schema::MomentDelta<'_>) -> StoreResult<()> {
    if delta.is_empty() {
        return Ok(());
    }
    sqlx::query("INSERT INTO driver_moment_log (cells) VALUES ($1)")
        .bind(delta.encode_log()?)
        .execute(&mut **tx)
        .await?;
    let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM driver_moment_log")
        .fetch_one(&mut **tx)
        .await?;
    if logged < schema::MOMENT_LOG_FOLD {
        return Ok(());
    }
    let folding: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
        .bind(MOMENT_FOLD_LOCK.0)
        .bind(MOMENT_FOLD_LOCK.1)
        .fetch_one(&mut **tx)
        .await?;
    if !folding {
        return Ok(());
    }
    // Take exactly the log rows this snapshot sees (rows other writers
    // commit meanwhile stay for the next fold).
    let taken: Vec<String> = sqlx::query_scalar("DELETE FROM driver_moment_log RETURNING cells")
        .fetch_all(&mut **tx)
        .await?;
    // Only the cells the log touched are added into (the table itself is
    // not rewritten: a fold costs what was logged).
    let cells = schema::merged_log(&taken)?;
    for chunk in cells.chunks(10_000) {
        add_to_moments(tx, chunk).await?;
    }
    let retracting = schema::retracting(&cells);
    if !retracting.is_empty() {
        let sql = format!(
            "DELETE FROM driver_moments_daily m USING unnest($1::int4[], $2::text[], $3::text[], \
             $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS t(day, {DIMENSION_COLUMNS}, outcome, drivers) \
             WHERE m.n = 0 AND NOT EXISTS (SELECT 1 FROM unnest(m.moments) v WHERE v <> 0) \
             AND (m.day, {m_dims}, m.outcome, m.drivers) = (t.day, {t_dims}, t.outcome, t.drivers)",
            m_dims = schema::prefixed_dimension_columns("m."),
            t_dims = schema::prefixed_dimension_columns("t."),
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(retracting.iter().map(|c| c.0).collect::<Vec<Day>>());
        for d in Dimension::ALL {
            q = q.bind(
                retracting
                    .iter()
                    .map(|c| c.1.get(d).to_string())
                    .collect::<Vec<_>>(),
            );
        }
        q.bind(retracting.iter().map(|c| c.2.code()).collect::<Vec<_>>())
            .bind(retracting.iter().map(|c| c.3.encode()).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Replaces `driver_moments_daily` by the moments of every stored response.
async fn rebuild_moments(tx: &mut Tx) -> StoreResult<()> {
    sqlx::query("DELETE FROM driver_moments_daily")
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM driver_moment_log")
        .execute(&mut **tx)
        .await?;
    let cells = raw_moment_cells(tx).await?;
    for chunk in cells.chunks(10_000) {
        add_to_moments(tx, chunk).await?;
    }
    sqlx::query("UPDATE store_state SET value = 1 WHERE key = 'driver_moments_built'")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whether a plain insert lost a race: a unique violation means another
/// writer inserted one of the keys after this transaction read them (the
/// caller rolls back and reads again); other errors are errors.
fn lost_insert_race(
    insert: Result<sqlx::postgres::PgQueryResult, sqlx::Error>,
) -> StoreResult<bool> {
    match insert {
        Ok(_) => Ok(false),
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505") => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Advisory-lock class of the order buckets (any constant of our own).
const ORDER_LOCK_CLASS: i32 = 0x4e53_4f4c; // "NSOL"
/// Order ids hash into this many buckets for [`lock_orders`].
const ORDER_LOCK_BUCKETS: u32 = 64;

/// Takes, until commit, the locks of the buckets of these orders, in one
/// order. A response writer and a record writer about the same order take
/// the same bucket before each reads the other's side, so one of them sees
/// the other's committed rows and the link is counted exactly once.
async fn lock_orders(tx: &mut Tx, orders: &[String]) -> StoreResult<()> {
    let mut buckets: Vec<i32> = orders
        .iter()
        .map(|o| {
            // FNV-1a: the same bucket in every process.
            let mut h: u32 = 0x811c_9dc5;
            for b in o.as_bytes() {
                h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
            }
            (h % ORDER_LOCK_BUCKETS) as i32
        })
        .collect();
    buckets.sort_unstable();
    buckets.dedup();
    for bucket in buckets {
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(ORDER_LOCK_CLASS)
            .bind(bucket)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The operational records of these orders, by order.
async fn operations_by_order(
    tx: &mut Tx,
    orders: &[String],
) -> StoreResult<HashMap<String, Vec<schema::GapOperation>>> {
    if orders.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(
        "SELECT order_id, department, measure, value, target FROM operations WHERE order_id = ANY($1)",
    )
    .bind(orders)
    .fetch_all(&mut **tx)
    .await?;
    let ops = rows
        .iter()
        .map(gap_operation_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(schema::by_order(ops, |o| &o.order_id))
}

/// The CSAT answers about these orders, by order.
async fn responses_by_order(
    tx: &mut Tx,
    orders: &[String],
) -> StoreResult<HashMap<String, Vec<schema::GapResponse>>> {
    if orders.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT order_id, day::int8, {DIMENSION_COLUMNS}, csat::int8 FROM responses \
         WHERE order_id = ANY($1) AND order_id IS NOT NULL AND csat IS NOT NULL"
    )))
    .bind(orders)
    .fetch_all(&mut **tx)
    .await?;
    let responses = rows
        .iter()
        .map(gap_response_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(schema::by_order(responses, |r| &r.order_id))
}

/// Adds a gap delta to `gap_cells` and `operation_targets` (cells a
/// retraction empties stay as zeros: readers skip them) and moves the
/// operations version, so cached gaps are read again.
async fn apply_gap(tx: &mut Tx, delta: &schema::GapDelta) -> StoreResult<()> {
    if delta.is_empty() {
        return Ok(());
    }
    let cells = delta.cells();
    if !cells.is_empty() {
        let dims = schema::gap_dimension_columns("");
        let sql = format!(
            "INSERT INTO gap_cells (department, measure, value, day, {dims}, satisfied, answered) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::int8[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::int8[], $11::int8[]) \
             ON CONFLICT (department, measure, value, day, {dims}) DO UPDATE SET \
             satisfied = gap_cells.satisfied + EXCLUDED.satisfied, answered = gap_cells.answered + EXCLUDED.answered"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(cells.iter().map(|c| c.0.clone()).collect::<Vec<_>>())
            .bind(cells.iter().map(|c| c.1.clone()).collect::<Vec<_>>())
            .bind(cells.iter().map(|c| c.2).collect::<Vec<f64>>())
            .bind(cells.iter().map(|c| i64::from(c.3)).collect::<Vec<i64>>());
        for d in Dimension::ALL {
            q = q.bind(
                cells
                    .iter()
                    .map(|c| c.4.get(d).to_string())
                    .collect::<Vec<_>>(),
            );
        }
        q.bind(cells.iter().map(|c| c.5).collect::<Vec<i64>>())
            .bind(cells.iter().map(|c| c.6).collect::<Vec<i64>>())
            .execute(&mut **tx)
            .await?;
    }
    let targets = delta.targets();
    if !targets.is_empty() {
        sqlx::query(
            "INSERT INTO operation_targets (department, measure, target, records) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::int8[]) \
             ON CONFLICT (department, measure, target) DO UPDATE SET \
             records = operation_targets.records + EXCLUDED.records",
        )
        .bind(targets.iter().map(|t| t.0.clone()).collect::<Vec<_>>())
        .bind(targets.iter().map(|t| t.1.clone()).collect::<Vec<_>>())
        .bind(targets.iter().map(|t| t.2).collect::<Vec<f64>>())
        .bind(targets.iter().map(|t| t.3).collect::<Vec<i64>>())
        .execute(&mut **tx)
        .await?;
    }
    bump_data_version(tx, "operations").await
}

/// Replaces `gap_cells` and `operation_targets` by a join of the raw rows.
async fn rebuild_gaps(tx: &mut Tx) -> StoreResult<()> {
    sqlx::query("DELETE FROM gap_cells")
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM operation_targets")
        .execute(&mut **tx)
        .await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO gap_cells (department, measure, value, day, {}, satisfied, answered) {}",
        schema::gap_dimension_columns(""),
        schema::raw_gap_select()
    )))
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO operation_targets (department, measure, target, records) \
         SELECT department, measure, target, COUNT(*) FROM operations WHERE target IS NOT NULL \
         GROUP BY department, measure, target",
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE store_state SET value = 1 WHERE key = 'gap_cells_built'")
        .execute(&mut **tx)
        .await?;
    bump_data_version(tx, "operations").await
}

/// Sorted distinct order ids.
fn distinct_orders<'a>(orders: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut v: Vec<String> = orders.into_iter().cloned().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Appends this transaction's delta to the log and trims the log; returns
/// the transaction id.
async fn log_delta(tx: &mut Tx, cells: Option<&[u8]>, rebuild: bool) -> StoreResult<i64> {
    let xid: i64 = sqlx::query_scalar(
        "INSERT INTO rollup_deltas (xid, rebuild, cells) VALUES (pg_current_xact_id(), $1, $2) \
         RETURNING xid::text::int8",
    )
    .bind(rebuild)
    .bind(cells)
    .fetch_one(&mut **tx)
    .await?;
    // Payloads of all but the newest writes go; rows another writer is
    // trimming are skipped rather than waited for.
    sqlx::query(
        "UPDATE rollup_deltas SET cells = NULL WHERE xid IN (SELECT xid FROM rollup_deltas \
         WHERE cells IS NOT NULL AND (written_at < now() - make_interval(secs => $1) \
         OR xid <= (SELECT xid FROM rollup_deltas WHERE cells IS NOT NULL ORDER BY xid DESC OFFSET $2 LIMIT 1)) \
         FOR UPDATE SKIP LOCKED)",
    )
    .bind(DELTA_LOG_SECONDS as f64)
    .bind(DELTA_LOG_VERSIONS)
    .execute(&mut **tx)
    .await?;
    // About one write in 256 deletes old rows and raises the floor.
    if xid % 256 == 0 {
        sqlx::query(AssertSqlSafe(format!(
            "WITH gone AS (DELETE FROM rollup_deltas WHERE xid IN (SELECT xid FROM rollup_deltas \
             WHERE cells IS NULL AND written_at < now() - interval '{DELTA_ROWS_KEPT}' FOR UPDATE SKIP LOCKED) \
             RETURNING xid::text::int8 AS xid) \
             UPDATE store_state SET value = GREATEST(value, (SELECT max(xid) + 1 FROM gone)) \
             WHERE key = 'delta_floor' AND EXISTS (SELECT 1 FROM gone)"
        )))
        .execute(&mut **tx)
        .await?;
    }
    Ok(xid)
}

async fn bump_data_version(tx: &mut Tx, kind: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO data_versions (kind, shard, value) VALUES ($1, pg_backend_pid() % $2, 1) \
         ON CONFLICT (kind, shard) DO UPDATE SET value = data_versions.value + 1",
    )
    .bind(kind)
    .bind(VERSION_SHARDS)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Re-derives the stored day of every response in `zone`, a page at a time
/// (memory holds one page), then rebuilds the rollups from the days, with a
/// rebuild marker in the log so that every cube reloads. Writers wait (the
/// tables are locked until commit); readers do not.
async fn rebucket_and_rebuild(
    tx: &mut Tx,
    zone: &jiff::tz::TimeZone,
) -> StoreResult<TimeZoneChanged> {
    sqlx::query(
        "LOCK TABLE responses, operations, rollups_daily, driver_moments_daily, driver_moment_log, \
         gap_cells, operation_targets IN SHARE ROW EXCLUSIVE MODE",
    )
    .execute(&mut **tx)
    .await?;
    let mut rebucketed = 0u64;
    let mut after: Option<String> = None;
    loop {
        let page: Vec<(String, i64, i32)> = sqlx::query_as(
            "SELECT external_id, submitted_unix, day FROM responses \
             WHERE $1::text IS NULL OR external_id > $1 ORDER BY external_id LIMIT $2",
        )
        .bind(&after)
        .bind(schema::REBUCKET_PAGE)
        .fetch_all(&mut **tx)
        .await?;
        let Some((last, _, _)) = page.last() else {
            break;
        };
        after = Some(last.clone());
        let page: Vec<(String, i64, Option<i64>)> = page
            .into_iter()
            .map(|(id, unix, day)| (id, unix, Some(i64::from(day))))
            .collect();
        let moved = schema::moved_days(&page, zone);
        if !moved.is_empty() {
            let (ids, days): (Vec<String>, Vec<Day>) = moved.into_iter().unzip();
            rebucketed += sqlx::query(
                "UPDATE responses r SET day = m.day FROM unnest($1::text[], $2::int4[]) AS m(id, day) \
                 WHERE r.external_id = m.id",
            )
            .bind(&ids)
            .bind(&days)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        }
        if (page.len() as i64) < schema::REBUCKET_PAGE {
            break;
        }
    }
    sqlx::query("DELETE FROM rollups_daily")
        .execute(&mut **tx)
        .await?;
    let cells = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO rollups_daily (day, {DIMENSION_COLUMNS}, {}) {}",
        COUNTER_COLUMNS.join(", "),
        raw_rollup_select()
    )))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    // The tables kept beside the rollups follow the days.
    rebuild_moments(tx).await?;
    rebuild_gaps(tx).await?;
    log_delta(tx, None, true).await?;
    bump_data_version(tx, "rollups").await?;
    Ok(TimeZoneChanged { rebucketed, cells })
}

fn raw_rollup_select() -> String {
    schema::raw_rollup_select(|c| format!("COUNT(*) FILTER (WHERE {c})"), "fcr", "NOT fcr")
}

fn snapshot_of(position: &CubePosition) -> Option<(Snapshot, &[u64])> {
    match position {
        CubePosition::Snapshot { snapshot, applied } => {
            Snapshot::parse(snapshot).map(|s| (s, applied.as_slice()))
        }
        CubePosition::Serial(_) => None,
    }
}

crate::departments::department_records!(
    PostgresStore,
    // After wins are copied with their ids, new wins continue after them.
    "SELECT setval(pg_get_serial_sequence('wins', 'id'), COALESCE((SELECT MAX(id) FROM wins), 0) + 1, false)"
);

crate::value_records::value_records!(
    PostgresStore,
    Postgres,
    // After cases and pilots are copied with their ids, new ones continue
    // after them.
    "SELECT setval(pg_get_serial_sequence('business_cases', 'id'), \
     COALESCE((SELECT MAX(id) FROM business_cases), 0) + 1, false), \
     setval(pg_get_serial_sequence('pilots', 'id'), COALESCE((SELECT MAX(id) FROM pilots), 0) + 1, false)"
);

crate::survey_records::survey_records!(
    PostgresStore,
    Postgres,
    // After surveys and invitations are copied with their ids, new ones
    // continue after them.
    "SELECT setval(pg_get_serial_sequence('surveys', 'id'), \
     COALESCE((SELECT MAX(id) FROM surveys), 0) + 1, false), \
     setval(pg_get_serial_sequence('invitations', 'id'), \
     COALESCE((SELECT MAX(id) FROM invitations), 0) + 1, false)"
);

#[async_trait]
impl Backend for PostgresStore {
    async fn migrate(&self) -> StoreResult<()> {
        // sqlx takes an advisory lock: servers starting together migrate once.
        MIGRATOR.run(&self.pool).await?;
        let built: Option<i64> =
            sqlx::query_scalar("SELECT value FROM store_state WHERE key = 'driver_moments_built'")
                .fetch_optional(&self.pool)
                .await?;
        if built == Some(0) {
            // Responses stored before driver moments were kept: fill them
            // in, once (the lock makes a second server wait, then see 1).
            let mut tx = self.pool.begin().await?;
            sqlx::query("LOCK TABLE responses, driver_moments_daily, driver_moment_log IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
            let still: i64 = sqlx::query_scalar(
                "SELECT value FROM store_state WHERE key = 'driver_moments_built' FOR UPDATE",
            )
            .fetch_one(&mut *tx)
            .await?;
            if still == 0 {
                rebuild_moments(&mut tx).await?;
                bump_data_version(&mut tx, "rollups").await?;
            }
            tx.commit().await?;
        }
        let built: Option<i64> =
            sqlx::query_scalar("SELECT value FROM store_state WHERE key = 'gap_cells_built'")
                .fetch_optional(&self.pool)
                .await?;
        if built == Some(0) {
            // Links of rows stored before they were maintained on write.
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "LOCK TABLE responses, operations, gap_cells, operation_targets IN SHARE ROW EXCLUSIVE MODE",
            )
            .execute(&mut *tx)
            .await?;
            let still: i64 = sqlx::query_scalar(
                "SELECT value FROM store_state WHERE key = 'gap_cells_built' FOR UPDATE",
            )
            .fetch_one(&mut *tx)
            .await?;
            if still == 0 {
                rebuild_gaps(&mut tx).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    async fn check_ready(&self) -> StoreResult<()> {
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?;
        // Newer migrations than this binary knows are fine (a rolling
        // upgrade: they only add); missing ones are not.
        let missing: Vec<i64> = MIGRATOR
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect();
        if !missing.is_empty() {
            return Err(StoreError::NotReady(format!(
                "migrations {missing:?} are not applied; run `northstar migrate`"
            )));
        }
        Ok(())
    }

    async fn write_responses(
        &self,
        rows: Vec<NewResponse>,
        redact: bool,
    ) -> StoreResult<ResponsesWritten> {
        backend::ensure_unique_keys(&rows, "external_id", |r| r.external_id.as_str())?;
        if rows.is_empty() {
            return Ok(ResponsesWritten::default());
        }
        for tries in 0..WRITE_ATTEMPTS {
            let result = self.try_write_responses(&rows, redact).await;
            if let Some(written) = attempt(result, tries).await? {
                return Ok(written);
            }
            back_off(tries).await;
        }
        Err(raced_too_often())
    }

    async fn list_responses(&self, query: &ResponseListQuery) -> StoreResult<Vec<NewResponse>> {
        let mut qb: sqlx::QueryBuilder<Postgres> =
            sqlx::QueryBuilder::new(format!("{RESPONSE_SELECT} WHERE TRUE"));
        push_selection(&mut qb, &query.selection, "");
        if query.with_comment {
            qb.push(" AND comment IS NOT NULL AND comment <> ''");
        }
        if let Some((unix, id)) = &query.before {
            qb.push(" AND (submitted_unix < ")
                .push_bind(*unix)
                .push(" OR (submitted_unix = ")
                .push_bind(*unix)
                .push(" AND external_id < ")
                .push_bind(id.clone())
                .push("))");
        }
        qb.push(" ORDER BY submitted_unix DESC, external_id DESC LIMIT ")
            .push_bind(i64::from(query.limit.min(MAX_RESPONSE_PAGE)));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(response_from_row).collect()
    }

    async fn response(&self, external_id: &str) -> StoreResult<Option<NewResponse>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "{RESPONSE_SELECT} WHERE external_id = $1"
        )))
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(response_from_row).transpose()
    }

    async fn write_customers(&self, rows: Vec<NewCustomer>) -> StoreResult<WriteSummary> {
        backend::ensure_unique_keys(&rows, "customer_id", |c| c.customer_id.as_str())?;
        if rows.is_empty() {
            return Ok(WriteSummary::default());
        }
        for tries in 0..WRITE_ATTEMPTS {
            let result = self.try_write_customers(&rows).await;
            if let Some(written) = attempt(result, tries).await? {
                return Ok(written);
            }
            back_off(tries).await;
        }
        Err(raced_too_often())
    }

    async fn erase_customer(&self, customer_id: &str) -> StoreResult<ErasureWritten> {
        for tries in 0..WRITE_ATTEMPTS {
            let result = self.try_erase_customer(customer_id).await.map(Ok);
            if let Some(written) = attempt(result, tries).await? {
                return Ok(written);
            }
            back_off(tries).await;
        }
        Err(raced_too_often())
    }

    async fn anonymise_before(
        &self,
        before_unix: i64,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<AnonymisedBatch> {
        let mut tx = self.pool.begin().await?;
        let after = after.unwrap_or("");
        // The next `limit` old responses after the cursor, in primary-key
        // order: a run reads each response once, with no time index.
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT external_id FROM responses WHERE external_id > $1 AND submitted_unix < $2 \
             ORDER BY external_id LIMIT $3",
        )
        .bind(after)
        .bind(before_unix)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut batch = AnonymisedBatch {
            looked_at: keys.len() as u64,
            last: keys.last().cloned(),
            ..Default::default()
        };
        if let Some(last) = &batch.last {
            // Answers about orders lose their link: take it out of the gaps.
            let unlinked = sqlx::query(AssertSqlSafe(format!(
                "SELECT order_id, day::int8, {DIMENSION_COLUMNS}, csat::int8 FROM responses \
                 WHERE external_id > $1 AND external_id <= $2 AND submitted_unix < $3 \
                 AND order_id IS NOT NULL AND csat IS NOT NULL ORDER BY external_id FOR UPDATE"
            )))
            .bind(after)
            .bind(last)
            .bind(before_unix)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(gap_response_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
            if !unlinked.is_empty() {
                let orders = distinct_orders(unlinked.iter().map(|r| &r.order_id));
                lock_orders(&mut tx, &orders).await?;
                let operations = operations_by_order(&mut tx, &orders).await?;
                apply_gap(&mut tx, &schema::GapDelta::unlinked(&unlinked, &operations)).await?;
            }
            batch.responses = sqlx::query(
                "UPDATE responses SET customer_id = NULL, comment = NULL, order_id = NULL, attributes = '{}' \
                 WHERE external_id > $1 AND external_id <= $2 AND submitted_unix < $3 \
                 AND (customer_id IS NOT NULL OR comment IS NOT NULL OR order_id IS NOT NULL OR attributes::text <> '{}')",
            )
            .bind(after)
            .bind(last)
            .bind(before_unix)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        batch.operations = sqlx::query(
            "UPDATE operations SET customer_id = NULL WHERE (department, order_id, measure) IN \
             (SELECT department, order_id, measure FROM operations WHERE occurred_unix < $1 \
             AND customer_id IS NOT NULL LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before_unix)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Survey invitations hold an address and name a customer: those
        // made before the cutoff go (their answers stay, anonymised above;
        // response rates before the cutoff go with them).
        batch.invitations = sqlx::query(
            "DELETE FROM invitations WHERE id IN \
             (SELECT id FROM invitations WHERE created_unix < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before_unix)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if batch.responses > 0 {
            bump_data_version(&mut tx, "customers").await?;
        }
        tx.commit().await?;
        Ok(batch)
    }

    async fn write_operations(&self, rows: Vec<NewOperation>) -> StoreResult<WriteSummary> {
        backend::ensure_unique_keys(
            &rows,
            "operation (department, order_id, measure)",
            operation_key,
        )?;
        if rows.is_empty() {
            return Ok(WriteSummary::default());
        }
        for tries in 0..WRITE_ATTEMPTS {
            let result = self.try_write_operations(&rows).await;
            if let Some(written) = attempt(result, tries).await? {
                return Ok(written);
            }
            back_off(tries).await;
        }
        Err(raced_too_often())
    }

    async fn data_versions(&self) -> StoreResult<DataVersions> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT kind, SUM(value)::int8 FROM data_versions GROUP BY kind")
                .fetch_all(&self.pool)
                .await?;
        let get = |k: &str| rows.iter().find(|(key, _)| key == k).map_or(0, |(_, v)| *v);
        Ok(DataVersions {
            rollups: get("rollups"),
            customers: get("customers"),
            operations: get("operations"),
        })
    }

    async fn load_rollups(&self) -> StoreResult<(CubePosition, Vec<RollupCell>)> {
        // One snapshot for the position and the cells.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let snapshot: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
            .fetch_one(&mut *tx)
            .await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT day, {DIMENSION_COLUMNS}, {} FROM rollups_daily",
            COUNTER_COLUMNS.join(", ")
        )))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let cells = rows
            .iter()
            .map(cell_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((
            CubePosition::Snapshot {
                snapshot,
                applied: Vec::new(),
            },
            cells,
        ))
    }

    async fn rollup_deltas_since(&self, position: &CubePosition) -> StoreResult<DeltasSince> {
        let Some((old, applied)) = snapshot_of(position) else {
            return Ok(DeltasSince::Reload);
        };
        let CubePosition::Snapshot { snapshot, .. } = position else {
            return Ok(DeltasSince::Reload);
        };
        let applied_ids: Vec<i64> = applied.iter().map(|x| *x as i64).collect();
        // One statement, so one snapshot: the new position and the deltas
        // committed since the old one (other than those applied already).
        // A snapshot misses exactly the transactions at or after its xmax
        // and those it lists as in progress: both are index lookups, so a
        // long-open transaction (which holds xmin back) costs nothing here.
        let rows = sqlx::query(
            "SELECT pg_current_snapshot()::text AS now, \
             (SELECT value FROM store_state WHERE key = 'delta_floor') AS floor, \
             d.xid::text::int8 AS xid, d.rebuild, d.cells \
             FROM (SELECT 1) AS one LEFT JOIN rollup_deltas d \
             ON (d.xid >= pg_snapshot_xmax($1::text::pg_snapshot) \
                 OR d.xid IN (SELECT pg_snapshot_xip($1::text::pg_snapshot))) \
             AND NOT (d.xid::text::int8 = ANY($2)) \
             ORDER BY d.xid",
        )
        .bind(snapshot)
        .bind(&applied_ids)
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(DeltasSince::Reload);
        };
        let now_text: String = first.try_get("now")?;
        let floor: i64 = first.try_get("floor")?;
        // Rows below the floor were deleted: if the cube's snapshot missed
        // any transaction below it, the gap cannot be replayed.
        let oldest_missed = old
            .in_progress
            .iter()
            .copied()
            .min()
            .unwrap_or(old.xmax)
            .min(old.xmax);
        if floor as u64 > oldest_missed {
            return Ok(DeltasSince::Reload);
        }
        let now = Snapshot::parse(&now_text)
            .ok_or_else(|| StoreError::Corrupt(format!("unreadable snapshot {now_text:?}")))?;
        let mut deltas = Vec::new();
        for row in &rows {
            let Some(xid) = row.try_get::<Option<i64>, _>("xid")? else {
                continue;
            };
            let rebuild: bool = row.try_get("rebuild")?;
            let cells: Option<Vec<u8>> = row.try_get("cells")?;
            let Some(bytes) = cells.filter(|_| !rebuild) else {
                // A rebuild, or a payload already trimmed.
                return Ok(DeltasSince::Reload);
            };
            match backend::decode_cells(&bytes) {
                Ok(cells) => deltas.push(RollupDelta { id: xid, cells }),
                Err(e) => {
                    // Written by another version, or damaged: the table is
                    // the truth, so load it instead of failing every query.
                    tracing::warn!(xid, error = %e, "unreadable rollup delta; reloading the cube");
                    return Ok(DeltasSince::Reload);
                }
            }
        }
        if deltas.is_empty() && applied.is_empty() {
            return Ok(DeltasSince::Current);
        }
        // Own writes the new snapshot sees need no listing any more.
        let applied: Vec<u64> = applied.iter().copied().filter(|x| !now.sees(*x)).collect();
        Ok(DeltasSince::Replay {
            deltas,
            to: CubePosition::Snapshot {
                snapshot: now_text,
                applied,
            },
        })
    }

    fn writes_in_parallel(&self) -> bool {
        true
    }

    fn position_after(&self, position: &CubePosition, delta: &RollupDelta) -> Option<CubePosition> {
        let (snapshot, applied) = snapshot_of(position)?;
        let xid = u64::try_from(delta.id).ok()?;
        if snapshot.sees(xid) || applied.contains(&xid) {
            return None;
        }
        let CubePosition::Snapshot { snapshot, applied } = position else {
            return None;
        };
        let mut applied = applied.clone();
        applied.push(xid);
        Some(CubePosition::Snapshot {
            snapshot: snapshot.clone(),
            applied,
        })
    }

    async fn customer_segments(&self, active_from: Option<Day>) -> StoreResult<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT segment, SUM(customers)::int8 FROM customer_segment_counts \
             WHERE segment <> '' AND churned_day >= $1 GROUP BY segment HAVING SUM(customers) > 0 \
             ORDER BY segment COLLATE \"C\"",
        )
        .bind(active_from.unwrap_or(i32::MIN))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(s, n)| (s, n.max(0) as u64))
            .collect())
    }

    async fn respondents_by_segment(
        &self,
        query: &RespondentQuery,
    ) -> StoreResult<RespondentCounts> {
        let mut qb: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new(
            "SELECT CASE WHEN c.customer_id IS NULL THEN r.segment ELSE COALESCE(c.segment, '') END AS seg, \
             CASE WHEN r.customer_id IS NULL THEN 2 WHEN c.customer_id IS NULL THEN 1 ELSE 0 END AS source, \
             COUNT(DISTINCT COALESCE('c' || r.customer_id, 'a' || r.external_id))::int8 \
             FROM responses r LEFT JOIN customers c ON c.customer_id = r.customer_id \
             WHERE r.nps IS NOT NULL",
        );
        push_selection(&mut qb, query, "r.");
        qb.push(" GROUP BY 1, 2");
        let rows: Vec<(String, i32, i64)> = qb.build_query_as().fetch_all(&self.pool).await?;
        let mut counts = RespondentCounts::default();
        let mut by_segment: std::collections::BTreeMap<String, u64> = Default::default();
        for (segment, source, n) in rows {
            let n = n.max(0) as u64;
            match source {
                2 => counts.anonymous += n,
                1 => counts.segment_from_response += n,
                _ => {}
            }
            *by_segment.entry(segment).or_default() += n;
        }
        counts.by_segment = by_segment.into_iter().collect();
        Ok(counts)
    }

    async fn attribute_summaries(
        &self,
        query: &RespondentQuery,
        attribute: &BreakdownAttribute,
        limit: usize,
    ) -> StoreResult<AttributeSummaries> {
        let key =
            schema::attribute_expression(attribute, |column| format!("({column}::jsonb) ->> "));
        let counters = schema::counter_select(
            |c| format!("COUNT(*) FILTER (WHERE {c})"),
            "r.fcr",
            "NOT r.fcr",
            "r.",
        );
        let mut qb: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new("SELECT COALESCE(");
        qb.push(key);
        if let BreakdownAttribute::Response(name) | BreakdownAttribute::Customer(name) = attribute {
            qb.push_bind(name.clone());
        }
        // Ties by value in byte order ("C"), as SQLite and the in-memory
        // cells order them.
        qb.push(format!(
            ", '') COLLATE \"C\" AS key, COUNT(*) AS responses, {counters} FROM responses r \
             LEFT JOIN customers c ON c.customer_id = r.customer_id WHERE TRUE"
        ));
        push_selection(&mut qb, query, "r.");
        qb.push(" GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ")
            .push_bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX));
        let rows = qb.build().fetch_all(&self.pool).await?;
        attribute_summaries_from(&rows, limit)
    }

    async fn gap_counts(&self, query: &GapQuery) -> StoreResult<GapCounts> {
        let mut qb: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new(
            "SELECT o.value, COALESCE(SUM(CASE WHEN r.csat >= 4 THEN 1 ELSE 0 END), 0), COUNT(*), \
             CAST(MIN(r.day) AS BIGINT), CAST(MAX(r.day) AS BIGINT) \
             FROM operations o JOIN responses r ON r.order_id = o.order_id \
             WHERE r.csat IS NOT NULL AND o.department = ",
        );
        qb.push_bind(query.department.clone())
            .push(" AND o.measure = ")
            .push_bind(query.measure.clone());
        push_selection(&mut qb, &query.responses, "r.");
        qb.push(" GROUP BY o.value ORDER BY o.value");
        let rows: Vec<(f64, i64, i64, i64, i64)> =
            qb.build_query_as().fetch_all(&self.pool).await?;
        let targets: Vec<(f64, i64)> = sqlx::query_as(
            "SELECT target, COUNT(*) FROM operations WHERE department = $1 AND measure = $2 \
             AND target IS NOT NULL GROUP BY target ORDER BY 2 DESC, 1",
        )
        .bind(&query.department)
        .bind(&query.measure)
        .fetch_all(&self.pool)
        .await?;
        Ok(GapCounts::from_rows(rows, &targets))
    }

    async fn loyalty_customers(
        &self,
        query: &RespondentQuery,
        by: Option<crate::LoyaltyBy>,
    ) -> StoreResult<Vec<(String, northstar_core::revenue::LoyaltyCustomers)>> {
        let mut qb: sqlx::QueryBuilder<Postgres> =
            sqlx::QueryBuilder::new(schema::loyalty_latest(by));
        push_selection(&mut qb, query, "r.");
        qb.push(schema::loyalty_rest(by, "c.churned"));
        let rows: Vec<(String, String, i64, i64, i64, i64, f64)> =
            qb.build_query_as().fetch_all(&self.pool).await?;
        Ok(schema::loyalty_from_rows(rows))
    }

    async fn respondent_cells(
        &self,
        query: &RespondentQuery,
        attributes: &[BreakdownAttribute],
        limit: usize,
    ) -> StoreResult<Vec<northstar_core::weighting::RespondentCell>> {
        let counters = schema::counter_select(
            |c| format!("COUNT(*) FILTER (WHERE {c})"),
            "r.fcr",
            "NOT r.fcr",
            "r.",
        );
        let mut qb: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new("SELECT ");
        for (i, attribute) in attributes.iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            qb.push("COALESCE(")
                .push(schema::attribute_expression(attribute, |column| {
                    format!("({column}::jsonb) ->> ")
                }));
            if let BreakdownAttribute::Response(name) | BreakdownAttribute::Customer(name) =
                attribute
            {
                qb.push_bind(name.clone());
            }
            qb.push(format!(", '') AS a{i}"));
        }
        qb.push(format!(
            ", COUNT(DISTINCT r.customer_id), {counters} FROM responses r \
             JOIN customers c ON c.customer_id = r.customer_id WHERE TRUE"
        ));
        push_selection(&mut qb, query, "r.");
        let groups: Vec<String> = (1..=attributes.len()).map(|i| i.to_string()).collect();
        qb.push(format!(
            " GROUP BY {} ORDER BY {} LIMIT ",
            groups.join(", "),
            groups.join(", ")
        ))
        .push_bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX));
        let rows = qb.build().fetch_all(&self.pool).await?;
        schema::cells_from_rows(&rows, attributes.len())
    }

    async fn customer_margin(
        &self,
        attribute: &BreakdownAttribute,
        active_from: Option<Day>,
        limit: usize,
    ) -> StoreResult<Vec<(String, u64)>> {
        let mut qb: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new("SELECT COALESCE(");
        qb.push(schema::attribute_expression(attribute, |column| {
            format!("({column}::jsonb) ->> ")
        }));
        if let BreakdownAttribute::Response(name) | BreakdownAttribute::Customer(name) = attribute {
            qb.push_bind(name.clone());
        }
        qb.push(", '') AS v, COUNT(*) FROM customers c WHERE TRUE");
        if let Some(day) = active_from {
            qb.push(" AND (c.churned_on IS NULL OR c.churned_on >= ")
                .push_bind(i64::from(day))
                .push(")");
        }
        qb.push(" GROUP BY 1 ORDER BY 1 LIMIT ")
            .push_bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX));
        let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|(v, n)| (v, n.max(0) as u64))
            .collect())
    }

    async fn driver_moments(
        &self,
        query: &RespondentQuery,
        outcome: northstar_core::Metric,
    ) -> StoreResult<crate::DriverMoments> {
        use futures_util::TryStreamExt;
        let column = match outcome {
            northstar_core::Metric::Csat => "csat",
            _ => "nps",
        };
        let mut qb: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new(format!(
            "SELECT CAST(r.{column} AS INTEGER), r.drivers::text, r.submitted_unix FROM responses r WHERE r.{column} IS NOT NULL"
        ));
        push_selection(&mut qb, query, "r.");
        let mut moments = crate::DriverMoments::default();
        let mut rows = qb.build_query_as::<(i32, String, i64)>().fetch(&self.pool);
        while let Some((value, drivers, submitted)) = rows.try_next().await? {
            let drivers: std::collections::BTreeMap<String, u8> = json_map(&drivers, "drivers")?;
            let day = Day::try_from(submitted).map_err(|_| {
                StoreError::Corrupt(format!("response day {submitted} is out of range"))
            })?;
            moments.add(f64::from(value), &drivers, day);
        }
        Ok(moments)
    }

    async fn gap_cells(
        &self,
        of: Option<(&str, &str)>,
        from_raw: bool,
    ) -> StoreResult<Vec<GapCell>> {
        let source = if from_raw {
            format!("({}) AS g", schema::raw_gap_select())
        } else {
            "gap_cells".to_string()
        };
        let mut qb: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new(format!(
            "SELECT department, measure, value, day, {}, satisfied, answered FROM {source} WHERE answered <> 0",
            schema::gap_dimension_columns("")
        ));
        if let Some((department, measure)) = of {
            qb.push(" AND department = ")
                .push_bind(department.to_string())
                .push(" AND measure = ")
                .push_bind(measure.to_string());
        }
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut cells = rows
            .iter()
            .map(gap_cell_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        backend::sort_gap_cells(&mut cells);
        Ok(cells)
    }

    async fn operation_targets(
        &self,
        of: Option<(&str, &str)>,
        from_raw: bool,
    ) -> StoreResult<Vec<TargetCell>> {
        let source = if from_raw {
            "(SELECT department, measure, target, COUNT(*) AS records FROM operations \
             WHERE target IS NOT NULL GROUP BY department, measure, target) AS t"
        } else {
            "operation_targets"
        };
        let mut qb: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new(format!(
            "SELECT department, measure, target, records FROM {source} WHERE records <> 0"
        ));
        if let Some((department, measure)) = of {
            qb.push(" AND department = ")
                .push_bind(department.to_string())
                .push(" AND measure = ")
                .push_bind(measure.to_string());
        }
        let mut targets: Vec<TargetCell> = qb.build_query_as().fetch_all(&self.pool).await?;
        targets.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)).then(a.2.total_cmp(&b.2)));
        Ok(targets)
    }

    async fn attribute_rows_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<crate::attribute_cells::AttributeRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT r.external_id, r.day::int8 AS day, {dims}, r.nps::int8 AS nps, r.csat::int8 AS csat, r.ces::int8 AS ces, r.fcr, r.attributes, \
             c.customer_id IS NOT NULL AS known, c.region, c.segment, c.attributes::text AS customer_attributes \
             FROM responses r LEFT JOIN customers c ON c.customer_id = r.customer_id \
             WHERE r.external_id > $1 ORDER BY r.external_id LIMIT $2",
            dims = Dimension::ALL
                .iter()
                .map(|d| format!("r.{}", d.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        )))
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attribute_row_from_row).collect()
    }

    async fn driver_moment_cells_from_raw(&self) -> StoreResult<Vec<MomentCell>> {
        let mut conn = self.pool.acquire().await?;
        raw_moment_cells(&mut conn).await
    }

    async fn driver_moment_cells(&self) -> StoreResult<Vec<MomentCell>> {
        // The table and the log in one snapshot.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let mut merged = schema::FastMap::default();
        schema::merge_moment_cells(&mut merged, table_moment_cells(&mut tx).await?);
        let logged: Vec<String> = sqlx::query_scalar("SELECT cells FROM driver_moment_log")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        for text in logged {
            schema::merge_moment_cells(&mut merged, schema::decode_moment_log(&text)?);
        }
        Ok(schema::sorted_moment_cells(merged))
    }

    async fn rebuild_rollups(&self) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        // The zone cannot change meanwhile (put_time_zone locks settings).
        sqlx::query("LOCK TABLE settings IN SHARE MODE")
            .execute(&mut *tx)
            .await?;
        let zone: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(settings::TIME_ZONE)
            .fetch_optional(&mut *tx)
            .await?;
        let zone = settings::stored_time_zone(zone.as_deref())?;
        let changed = rebucket_and_rebuild(&mut tx, &zone).await?;
        tx.commit().await?;
        Ok(changed.cells)
    }

    async fn rollup_cells(&self) -> StoreResult<Vec<RollupCell>> {
        self.cells(format!(
            "SELECT day, {DIMENSION_COLUMNS}, {} FROM rollups_daily",
            COUNTER_COLUMNS.join(", ")
        ))
        .await
    }

    async fn rollup_cells_between(
        &self,
        from: Day,
        to: Day,
        filter: &[(Dimension, String)],
    ) -> StoreResult<Vec<RollupCell>> {
        let mut qb: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new(format!(
            "SELECT day, {DIMENSION_COLUMNS}, {} FROM rollups_daily WHERE day BETWEEN ",
            COUNTER_COLUMNS.join(", ")
        ));
        qb.push_bind(from).push(" AND ").push_bind(to);
        push_dimension_filter(&mut qb, filter, "");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(cell_from_row).collect()
    }

    async fn rollup_cells_from_raw(&self) -> StoreResult<Vec<RollupCell>> {
        self.cells(format!(
            "SELECT day::int4, {DIMENSION_COLUMNS}, {} FROM ({}) AS raw",
            COUNTER_COLUMNS.join(", "),
            raw_rollup_select()
        ))
        .await
    }

    async fn counts(&self) -> StoreResult<StoreCounts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM responses), (SELECT COUNT(*) FROM customers), \
             (SELECT COUNT(*) FROM operations), (SELECT COUNT(*) FROM rollups_daily), \
             (SELECT COUNT(*) FROM rollup_deltas WHERE cells IS NOT NULL)",
        )
        .fetch_one(&self.pool)
        .await?;
        let get = |i: usize| -> StoreResult<u64> { Ok(row.try_get::<i64, _>(i)?.max(0) as u64) };
        Ok(StoreCounts {
            responses: get(0)?,
            customers: get(1)?,
            operations: get(2)?,
            rollup_cells: get(3)?,
            logged_deltas: get(4)?,
        })
    }

    async fn insert_user(&self, user: &NewUser, now_unix: i64) -> StoreResult<User> {
        let inserted = sqlx::query(
            "INSERT INTO users (email, password_hash, role, department, created_unix, updated_unix) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(&user.department)
        .bind(now_unix)
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => Ok(User {
                id: row.try_get(0)?,
                email: user.email.clone(),
                role: user.role,
                department: user.department.clone(),
                disabled: false,
                created_unix: now_unix,
            }),
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505") => {
                Err(StoreError::Exists(format!(
                    "an account for {} exists already; change it with `northstar user set-role`",
                    user.email
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, email, role, department, disabled, created_unix FROM users ORDER BY email",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn user_with_hash(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        let row = sqlx::query(
            "SELECT id, email, role, department, disabled, created_unix, password_hash FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((user_from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    async fn update_user(
        &self,
        email: &str,
        change: &UserChange,
        now_unix: i64,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.pool.begin().await?;
        // Two admins demoting each other at once: the second waits and
        // then sees the first's change.
        sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let was_active_admin: bool = sqlx::query_scalar(
            "SELECT COUNT(*) > 0 FROM users WHERE email = $1 AND role = 'admin' AND disabled = false",
        )
        .bind(email)
        .fetch_one(&mut *tx)
        .await?;
        let (role, department) = match &change.role {
            Some((r, d)) => (Some(r.as_str()), d.clone()),
            None => (None, None),
        };
        let row = sqlx::query(
            "UPDATE users SET role = COALESCE($1, role), \
             department = CASE WHEN $1 IS NULL THEN department ELSE $2 END, \
             disabled = COALESCE($3, disabled), password_hash = COALESCE($4, password_hash), \
             updated_unix = $5 WHERE email = $6 \
             RETURNING id, email, role, department, disabled, created_unix",
        )
        .bind(role)
        .bind(department)
        .bind(change.disabled)
        .bind(&change.password_hash)
        .bind(now_unix)
        .bind(email)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let user = user_from_row(&row)?;
        if was_active_admin && (user.role != Role::Admin || user.disabled) {
            let left: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = false",
            )
            .fetch_one(&mut *tx)
            .await?;
            if left == 0 {
                tx.rollback().await?;
                return Err(StoreError::Refused(format!(
                    "{email} is the last active admin; make another admin first (northstar user add --role admin, or the admin page)"
                )));
            }
        }
        // A new role, password or a disabling signs the account out.
        if change.role.is_some() || change.password_hash.is_some() || change.disabled == Some(true)
        {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn active_admins(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = false",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn insert_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        now_unix: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_unix, last_seen_unix) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(now_unix)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.role, u.department, u.disabled, u.created_unix, \
             s.csrf_token, s.created_unix AS session_created, s.last_seen_unix \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND u.disabled = false",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Session {
                user: user_from_row(&r)?,
                csrf_token: r.try_get("csrf_token")?,
                created_unix: r.try_get("session_created")?,
                last_seen_unix: r.try_get("last_seen_unix")?,
            })
        })
        .transpose()
    }

    async fn touch_session(&self, token_hash: &str, now_unix: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_unix = $1 WHERE token_hash = $2")
            .bind(now_unix)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_expired_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE last_seen_unix < $1 OR created_unix < $2")
                .bind(idle_before)
                .bind(created_before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn insert_api_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        department: Option<&str>,
        now_unix: i64,
    ) -> StoreResult<ApiToken> {
        let row = sqlx::query(
            "INSERT INTO api_tokens (name, token_hash, role, department, created_unix) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id, name, role, department, created_unix, last_used_unix, revoked_unix",
        )
        .bind(name)
        .bind(token_hash)
        .bind(role.as_str())
        .bind(department)
        .bind(now_unix)
        .fetch_one(&self.pool)
        .await;
        match row {
            Ok(row) => api_token_from_row(&row),
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505") => {
                Err(StoreError::Exists(format!(
                    "an API token named {name:?} exists already; choose another name"
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let rows = sqlx::query("SELECT id, name, role, department, created_unix, last_used_unix, revoked_unix FROM api_tokens ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(api_token_from_row).collect()
    }

    async fn use_api_token(
        &self,
        token_hash: &str,
        now_unix: i64,
    ) -> StoreResult<Option<(ApiToken, Option<i64>)>> {
        let row = sqlx::query(
            "SELECT id, name, role, department, created_unix, last_used_unix, revoked_unix FROM api_tokens WHERE token_hash = $1 AND revoked_unix IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(mut token) = row.as_ref().map(api_token_from_row).transpose()? else {
            return Ok(None);
        };
        let previous = token.last_used_unix;
        if previous.is_none_or(|t| now_unix - t >= TOKEN_USE_GRANULARITY) {
            sqlx::query(
                "UPDATE api_tokens SET last_used_unix = $1 WHERE token_hash = $2 AND revoked_unix IS NULL",
            )
            .bind(now_unix)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
            token.last_used_unix = Some(now_unix);
        }
        Ok(Some((token, previous)))
    }

    async fn revoke_api_token(&self, name: &str, now_unix: i64) -> StoreResult<Option<ApiToken>> {
        let row = sqlx::query(
            "UPDATE api_tokens SET revoked_unix = $1 \
             WHERE name = $2 AND revoked_unix IS NULL RETURNING id, name, role, department, created_unix, last_used_unix, revoked_unix",
        )
        .bind(now_unix)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(api_token_from_row).transpose()
    }

    async fn record_sign_in_failure(
        &self,
        keys: &[String],
        now_unix: i64,
        forget_before: i64,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for key in keys {
            sqlx::query("INSERT INTO sign_in_failures (key, at_unix) VALUES ($1, $2)")
                .bind(key)
                .bind(now_unix)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM sign_in_failures WHERE at_unix < $1")
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sign_in_failures(&self, key: &str, since_unix: i64) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sign_in_failures WHERE key = $1 AND at_unix >= $2",
        )
        .bind(key)
        .bind(since_unix)
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn clear_sign_in_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn api_token_hashes(&self) -> StoreResult<Vec<(ApiToken, String)>> {
        let rows = sqlx::query("SELECT id, name, role, department, created_unix, last_used_unix, revoked_unix, token_hash FROM api_tokens ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((api_token_from_row(r)?, r.try_get("token_hash")?)))
            .collect()
    }

    async fn put_api_token(&self, token: &ApiToken, token_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_tokens (name, token_hash, role, department, created_unix, last_used_unix, revoked_unix) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, role = excluded.role, \
             department = excluded.department, created_unix = excluded.created_unix, \
             last_used_unix = excluded.last_used_unix, revoked_unix = excluded.revoked_unix",
        )
        .bind(&token.name)
        .bind(token_hash)
        .bind(token.role.as_str())
        .bind(&token.department)
        .bind(token.created_unix)
        .bind(token.last_used_unix)
        .bind(token.revoked_unix)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audit_after(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, AuditEntry)>> {
        let rows = sqlx::query(
            "SELECT id, at_unix, actor, action, target, detail FROM audit_log \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    AuditEntry {
                        at_unix: r.try_get("at_unix")?,
                        actor: r.try_get("actor")?,
                        action: r.try_get("action")?,
                        target: r.try_get("target")?,
                        detail: r.try_get("detail")?,
                    },
                ))
            })
            .collect()
    }

    async fn put_audit_entries(&self, entries: &[(i64, AuditEntry)]) -> StoreResult<u64> {
        let mut written = 0;
        let mut tx = self.pool.begin().await?;
        for (id, e) in entries {
            written += sqlx::query(
                "INSERT INTO audit_log (id, at_unix, actor, action, target, detail) OVERRIDING SYSTEM VALUE \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(e.at_unix)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.target)
            .bind(&e.detail)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        // Later appends must not reuse a copied id.
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), GREATEST((SELECT COALESCE(MAX(id), 0) FROM audit_log), 1))",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (at_unix, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(entry.at_unix)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(&entry.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audit_entries(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let mut qb: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new(
            "SELECT at_unix, actor, action, target, detail FROM audit_log WHERE 1 = 1",
        );
        if let Some(actor) = &query.actor {
            qb.push(" AND actor = ").push_bind(actor.clone());
        }
        if let Some(target) = &query.target {
            qb.push(" AND target = ").push_bind(target.clone());
        }
        match query.action.as_deref() {
            Some(family) if family.ends_with('.') => {
                qb.push(" AND substr(action, 1, ")
                    .push_bind(i32::try_from(family.chars().count()).unwrap_or(i32::MAX))
                    .push(") = ")
                    .push_bind(family.to_string());
            }
            Some(action) => {
                qb.push(" AND action = ").push_bind(action.to_string());
            }
            None => {}
        }
        if let Some(from) = query.from_unix {
            qb.push(" AND at_unix >= ").push_bind(from);
        }
        if let Some(to) = query.to_unix {
            qb.push(" AND at_unix <= ").push_bind(to);
        }
        qb.push(" ORDER BY at_unix DESC, id DESC LIMIT ")
            .push_bind(i64::from(query.limit.min(accounts::AUDIT_PAGE)));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at_unix: r.try_get("at_unix")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_setting(
        &self,
        key: &str,
        value: &str,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<()> {
        if key == settings::TIME_ZONE {
            return self.put_time_zone(value, actor, now_unix).await.map(|_| ());
        }
        let mut tx = self.pool.begin().await?;
        // Two changes at once each audit the value the other replaced.
        sqlx::query("LOCK TABLE settings IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let old: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_unix, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
             updated_unix = excluded.updated_unix, updated_by = excluded.updated_by",
        )
        .bind(key)
        .bind(value)
        .bind(now_unix)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO audit_log (at_unix, actor, action, target, detail) VALUES ($1, $2, 'setting.change', $3, $4)",
        )
        .bind(now_unix)
        .bind(actor)
        .bind(key)
        .bind(settings::change_detail(old.as_deref(), value))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn setting_or_insert(
        &self,
        key: &str,
        value: &str,
        now_unix: i64,
    ) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_unix, updated_by) VALUES ($1, $2, $3, 'system') \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .bind(now_unix)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn settings(&self) -> StoreResult<Vec<Setting>> {
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT key, value, updated_unix, updated_by FROM settings ORDER BY key",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(key, value, updated_unix, updated_by)| Setting {
                key,
                value,
                updated_unix,
                updated_by,
            })
            .collect())
    }

    async fn put_time_zone(
        &self,
        zone: &str,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<TimeZoneChanged> {
        let setting = Setting {
            key: settings::TIME_ZONE.into(),
            value: zone.into(),
            updated_unix: now_unix,
            updated_by: actor.into(),
        };
        self.set_time_zone(&setting, true).await
    }

    async fn put_copied_setting(&self, setting: &Setting) -> StoreResult<()> {
        if setting.key == settings::TIME_ZONE {
            return self.set_time_zone(setting, false).await.map(|_| ());
        }
        sqlx::query(
            "INSERT INTO settings (key, value, updated_unix, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
             updated_unix = excluded.updated_unix, updated_by = excluded.updated_by",
        )
        .bind(&setting.key)
        .bind(&setting.value)
        .bind(setting.updated_unix)
        .bind(&setting.updated_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn backup_to(&self, _path: &std::path::Path) -> StoreResult<()> {
        Err(StoreError::NotReady(
            "backups of a PostgreSQL database are PostgreSQL's job: `pg_dump -Fc` for a logical copy, \
             `pg_basebackup` with WAL archiving for point-in-time recovery (see docs/deploy.md)"
                .into(),
        ))
    }

    async fn responses_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<NewResponse>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{RESPONSE_SELECT} WHERE $1 IS NULL OR external_id > $1 ORDER BY external_id LIMIT $2"
        )))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(response_from_row).collect()
    }

    async fn customers_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<NewCustomer>> {
        let rows = sqlx::query(
            "SELECT customer_id, segment, region, annual_value, churned, churned_on, acquired_on, attributes::text AS attributes FROM customers \
             WHERE $1::text IS NULL OR customer_id > $1 ORDER BY customer_id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(customer_from_row).collect()
    }

    async fn operations_after(
        &self,
        after: Option<&OperationKey>,
        limit: u32,
    ) -> StoreResult<Vec<NewOperation>> {
        let (d, o, m) = after
            .cloned()
            .map_or((None, None, None), |(d, o, m)| (Some(d), Some(o), Some(m)));
        let rows = sqlx::query(
            "SELECT department, order_id, measure, customer_id, occurred_at, occurred_unix, value, target, attributes::text AS attributes FROM operations \
             WHERE $1::text IS NULL OR (department, order_id, measure) > ($1, $2, $3) \
             ORDER BY department, order_id, measure LIMIT $4",
        )
        .bind(d)
        .bind(o)
        .bind(m)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(operation_from_row).collect()
    }
}

/// The customers' "no churn date" key fits the column.
const _: () = assert!(NEVER_CHURNED == i32::MAX as i64);

/// Appends a respondent selection's conditions (the responses' stored days,
/// dimension values, any of several per dimension) to a query, on columns
/// of the responses table named with `prefix` (`""` or `"r."`).
fn push_selection(
    qb: &mut sqlx::QueryBuilder<Postgres>,
    selection: &RespondentQuery,
    prefix: &str,
) {
    if let Some(from) = selection.from {
        qb.push(format!(" AND {prefix}day >= ")).push_bind(from);
    }
    if let Some(to) = selection.to {
        qb.push(format!(" AND {prefix}day <= ")).push_bind(to);
    }
    push_dimension_filter(qb, &selection.filter, prefix);
}

/// Appends "dimension is any of these values" for each dimension the
/// filter names, on columns named with `prefix`.
fn push_dimension_filter(
    qb: &mut sqlx::QueryBuilder<Postgres>,
    filter: &[(Dimension, String)],
    prefix: &str,
) {
    for d in Dimension::ALL {
        let values: Vec<String> = filter
            .iter()
            .filter(|(fd, _)| *fd == d)
            .map(|(_, v)| v.clone())
            .collect();
        if !values.is_empty() {
            qb.push(format!(" AND {prefix}{} = ANY(", d.as_str()))
                .push_bind(values)
                .push(")");
        }
    }
}

/// Deletes the rollup rows of these days whose counters all went to zero
/// (a retraction or an erasure emptied them), as a rebuild would not have
/// them.
async fn delete_emptied_days(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    days: &[Day],
) -> StoreResult<()> {
    let all_zero: Vec<String> = COUNTER_COLUMNS.iter().map(|c| format!("{c} = 0")).collect();
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM rollups_daily WHERE day = ANY($1) AND {}",
        all_zero.join(" AND ")
    )))
    .bind(days)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_parse_and_see_what_postgres_sees() {
        let s = Snapshot::parse("10:20:12,15").unwrap();
        assert!(s.sees(9) && s.sees(11) && s.sees(19));
        assert!(!s.sees(12) && !s.sees(15) && !s.sees(20) && !s.sees(25));
        assert_eq!(
            Snapshot::parse("5:5:").unwrap().in_progress,
            Vec::<u64>::new()
        );
        assert!(Snapshot::parse("5:x:").is_none());
        assert!(Snapshot::parse("5").is_none());
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/northstar"),
            "postgres://app:***@db:5432/northstar"
        );
        assert_eq!(redact("postgres://db/northstar"), "postgres://db/northstar");
        assert_eq!(
            redact("postgres://app:p@ss@db/x"),
            "postgres://app:***@db/x",
            "the last @ ends the user part"
        );
        assert_eq!(
            redact("postgres://db/x?user=a&password=s3cret"),
            "postgres://db/x?user=a&password=***"
        );
        assert_eq!(redact("sqlite://northstar.db"), "sqlite://northstar.db");
        assert_eq!(
            redact("postgres://app@db/northstar"),
            "postgres://app@db/northstar"
        );
    }
}
