//! The SQLite backend: one file in WAL mode, writes serialised in-process and
//! taken with `BEGIN IMMEDIATE` so that another process (a CLI import while
//! the server runs) waits instead of failing mid-transaction.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use northstar_core::account::Role;
use northstar_core::calendar::Day;
use northstar_core::customer::NewCustomer;
use northstar_core::operation::NewOperation;
use northstar_core::response::NewResponse;
use northstar_core::{Dimension, DimensionValues, ResponseSummary};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqlitePool};
use tokio::sync::Mutex;

use crate::accounts::TOKEN_USE_GRANULARITY;
use crate::accounts::{self, ApiToken, AuditEntry, AuditQuery, NewUser, Session, User, UserChange};
use crate::backend::AnonymisedBatch;
use crate::backend::{
    self, Backend, CubePosition, DataVersions, DeltasSince, DriverSet, Erased, ErasureWritten,
    GapCell, MAX_RESPONSE_PAGE, MomentCell, MomentOutcome, OperationKey, RespondentCounts,
    RespondentQuery, ResponseListQuery, ResponsesWritten, RollupDelta, TargetCell, TimeZoneChanged,
};
use crate::schema::{
    self, COUNTER_COLUMNS, DELTA_LOG_SECONDS, DELTA_LOG_VERSIONS, DIMENSION_COLUMNS,
    RESPONSE_COLUMNS, changes, json_map, json_text, now_unix, opt_u8,
};
use crate::settings::{self, Setting};
use crate::{AttributeSummaries, BreakdownAttribute, GapCounts, GapQuery};
use crate::{RollupCell, StoreCounts, StoreError, StoreResult, WriteSummary};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

fn raw_rollup_select() -> String {
    schema::raw_rollup_select(|c| format!("COALESCE(SUM({c}), 0)"), "fcr = 1", "fcr = 0")
}

/// Rows per multi-row statement; 17 or 30 parameters each stays well under
/// SQLite's 32,766-variable limit.
const ROWS_PER_STATEMENT: usize = 500;

/// A SQLite database file.
pub struct SqliteStore {
    pool: SqlitePool,
    write_lock: Mutex<()>,
}

fn rollup_cell_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<RollupCell> {
    let day: i64 = row.try_get(0)?;
    let mut dims = DimensionValues::default();
    for d in Dimension::ALL {
        dims.set(d, row.try_get(1 + d.index())?);
    }
    let mut counters = [0i64; ResponseSummary::COUNTERS];
    for (i, c) in counters.iter_mut().enumerate() {
        *c = row.try_get(schema::FIRST_COUNTER + i)?;
    }
    let day = Day::try_from(day)
        .map_err(|_| StoreError::Corrupt(format!("rollup day {day} is out of range")))?;
    Ok((day, dims, ResponseSummary::from_counters(&counters)))
}

schema::row_decoders!(sqlx::sqlite::SqliteRow);

/// The day stored with a response (`day` among the selected columns).
fn stored_day(row: &sqlx::sqlite::SqliteRow) -> StoreResult<Day> {
    let day: Option<i64> = row.try_get("day")?;
    day.and_then(|d| Day::try_from(d).ok()).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "a response has no valid day ({day:?}); run `northstar rebuild-rollups` to derive it"
        ))
    })
}

fn response_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<NewResponse> {
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
        nps: opt_u8(row.try_get("nps")?, "nps")?,
        csat: opt_u8(row.try_get("csat")?, "csat")?,
        ces: opt_u8(row.try_get("ces")?, "ces")?,
        fcr: row.try_get::<Option<i64>, _>("fcr")?.map(|v| v == 1),
        comment: row.try_get("comment")?,
        order_id: row.try_get("order_id")?,
        drivers: json_map(row.try_get::<&str, _>("drivers")?, "drivers")?,
        attributes: json_map(row.try_get::<&str, _>("attributes")?, "attributes")?,
    })
}

impl SqliteStore {
    /// A transaction for a write of the department records
    /// ([`crate::departments`]).
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Opens (creating if missing) the database file a URL names.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with_cache(url, crate::DEFAULT_SQLITE_CACHE_MIB).await
    }

    /// [`SqliteStore::connect`] with a page cache of `cache_mib` MiB per
    /// connection.
    pub async fn connect_with_cache(url: &str, cache_mib: u32) -> StoreResult<Self> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit that was acknowledged survives power loss too.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // Negative: KiB.
            .pragma(
                "cache_size",
                format!("-{}", u64::from(cache_mib.max(1)) * 1024),
            )
            // What is deleted or replaced (an erasure, retention) is
            // overwritten in the file, not left in free space.
            .pragma("secure_delete", "on")
            // Statement journals of multi-row upserts stay in memory.
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            write_lock: Mutex::new(()),
        })
    }

    async fn upsert_rollups(
        tx: &mut sqlx::Transaction<'static, Sqlite>,
        cells: &[RollupCell],
    ) -> StoreResult<()> {
        let updates: Vec<String> = COUNTER_COLUMNS
            .iter()
            .map(|c| format!("{c} = {c} + excluded.{c}"))
            .collect();
        for chunk in cells.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                "INSERT INTO rollups_daily (day, {DIMENSION_COLUMNS}, {}) ",
                COUNTER_COLUMNS.join(", ")
            ));
            qb.push_values(chunk, |mut b, (day, dims, summary)| {
                b.push_bind(i64::from(*day));
                for d in Dimension::ALL {
                    b.push_bind(dims.get(d).to_string());
                }
                for c in summary.to_counters() {
                    b.push_bind(c);
                }
            });
            qb.push(format!(
                " ON CONFLICT (day, {DIMENSION_COLUMNS}) DO UPDATE SET {}",
                updates.join(", ")
            ));
            qb.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Adds moment cells to `driver_moments_daily` element by element (the
    /// fold and the rebuild write into an emptied table).
    async fn upsert_moments(
        tx: &mut sqlx::Transaction<'static, Sqlite>,
        cells: &[MomentCell],
    ) -> StoreResult<()> {
        for chunk in cells.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                "INSERT INTO driver_moments_daily (day, {DIMENSION_COLUMNS}, outcome, drivers, n, moments) "
            ));
            let mut bodies = Vec::with_capacity(chunk.len());
            for (_, _, _, _, m) in chunk {
                bodies.push(schema::moment_json(&schema::moment_body(m)?));
            }
            qb.push_values(
                chunk.iter().zip(bodies),
                |mut b, ((day, dims, outcome, set, m), body)| {
                    b.push_bind(i64::from(*day));
                    for d in Dimension::ALL {
                        b.push_bind(dims.get(d).to_string());
                    }
                    b.push_bind(outcome.code())
                        .push_bind(set.encode())
                        .push_bind(m.n())
                        .push_bind(body);
                },
            );
            qb.push(format!(
                " ON CONFLICT (day, {DIMENSION_COLUMNS}, outcome, drivers) DO UPDATE SET \
                 n = n + excluded.n, \
                 moments = (SELECT json_group_array(a.value + b.value ORDER BY a.key) \
                   FROM json_each(driver_moments_daily.moments) a JOIN json_each(excluded.moments) b ON a.key = b.key)"
            ));
            qb.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The moments of every stored response, computed from the rows
    /// (streamed: memory follows the cells, not the rows).
    async fn raw_moment_cells(conn: &mut sqlx::SqliteConnection) -> StoreResult<Vec<MomentCell>> {
        use futures_util::TryStreamExt;
        let mut deltas = schema::FastMap::default();
        let mut chunk: Vec<(NewResponse, Day)> = Vec::with_capacity(schema::MOMENT_SCAN_CHUNK);
        let mut rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RESPONSE_COLUMNS}, day FROM responses WHERE nps IS NOT NULL OR csat IS NOT NULL"
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
    async fn table_moment_cells(conn: &mut sqlx::SqliteConnection) -> StoreResult<Vec<MomentCell>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT day, {DIMENSION_COLUMNS}, outcome, drivers, n, moments FROM driver_moments_daily"
        )))
        .fetch_all(conn)
        .await?;
        rows.iter()
            .map(|row| {
                let set = DriverSet::decode(row.try_get("drivers")?)?;
                let body: Vec<f64> =
                    serde_json::from_str(row.try_get("moments")?).map_err(|e| {
                        StoreError::Corrupt(format!(
                            "driver_moments_daily.moments is not a list: {e}"
                        ))
                    })?;
                let m = schema::moment_from_stored(&set, row.try_get("n")?, &body)?;
                Ok((
                    Day::try_from(row.try_get::<i64, _>("day")?).map_err(|_| {
                        StoreError::Corrupt("driver_moments_daily.day is out of range".into())
                    })?,
                    {
                        let mut dims = DimensionValues::default();
                        for d in Dimension::ALL {
                            dims.set(d, row.try_get(1 + d.index())?);
                        }
                        dims
                    },
                    MomentOutcome::from_code(row.try_get("outcome")?)?,
                    set,
                    m,
                ))
            })
            .collect()
    }

    /// The table's cells with the logged deltas added, without cells that
    /// cancelled out, sorted.
    async fn moment_cells_with_log(
        conn: &mut sqlx::SqliteConnection,
    ) -> StoreResult<Vec<MomentCell>> {
        let mut merged = schema::FastMap::default();
        schema::merge_moment_cells(&mut merged, Self::table_moment_cells(&mut *conn).await?);
        let logged: Vec<String> =
            sqlx::query_scalar("SELECT cells FROM driver_moment_log ORDER BY seq")
                .fetch_all(&mut *conn)
                .await?;
        for text in logged {
            schema::merge_moment_cells(&mut merged, schema::decode_moment_log(&text)?);
        }
        Ok(schema::sorted_moment_cells(merged))
    }

    /// Appends a write's moment deltas to the log (one row), and folds the
    /// log into the table every [`schema::MOMENT_LOG_FOLD`] rows.
    async fn log_moments(
        tx: &mut sqlx::Transaction<'static, Sqlite>,
        delta: &schema::MomentDelta<'_>,
    ) -> StoreResult<()> {
        if delta.is_empty() {
            return Ok(());
        }
        sqlx::query("INSERT INTO driver_moment_log (cells) VALUES (?1)")
            .bind(delta.encode_log()?)
            .execute(&mut **tx)
            .await?;
        let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM driver_moment_log")
            .fetch_one(&mut **tx)
            .await?;
        if logged >= schema::MOMENT_LOG_FOLD {
            // Only the cells the log touched are added into (the table
            // itself is not rewritten: a fold costs what was logged).
            let taken: Vec<String> =
                sqlx::query_scalar("DELETE FROM driver_moment_log RETURNING cells")
                    .fetch_all(&mut **tx)
                    .await?;
            let cells = schema::merged_log(&taken)?;
            Self::upsert_moments(tx, &cells).await?;
            for chunk in schema::retracting(&cells).chunks(ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                    "DELETE FROM driver_moments_daily WHERE n = 0 \
                     AND NOT EXISTS (SELECT 1 FROM json_each(moments) WHERE value != 0) \
                     AND (day, {DIMENSION_COLUMNS}, outcome, drivers) IN (VALUES "
                ));
                let mut first = true;
                for (day, dims, outcome, set, _) in chunk {
                    qb.push(if first { "(" } else { ", (" });
                    first = false;
                    let mut b = qb.separated(", ");
                    b.push_bind(i64::from(*day));
                    for d in Dimension::ALL {
                        b.push_bind(dims.get(d).to_string());
                    }
                    b.push_bind(outcome.code()).push_bind(set.encode());
                    qb.push(")");
                }
                qb.push(")");
                qb.build().execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// Replaces `driver_moments_daily` by the moments of every stored
    /// response.
    async fn rebuild_moments(tx: &mut sqlx::Transaction<'static, Sqlite>) -> StoreResult<()> {
        sqlx::query("DELETE FROM driver_moments_daily")
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM driver_moment_log")
            .execute(&mut **tx)
            .await?;
        let cells = Self::raw_moment_cells(tx).await?;
        Self::upsert_moments(tx, &cells).await?;
        sqlx::query("UPDATE store_state SET value = 1 WHERE key = 'driver_moments_built'")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// The operational records of these orders, by order.
    async fn operations_by_order(
        tx: &mut sqlx::Transaction<'static, Sqlite>,
        orders: &[String],
    ) -> StoreResult<HashMap<String, Vec<schema::GapOperation>>> {
        if orders.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(
            "SELECT order_id, department, measure, value, target FROM operations \
             WHERE order_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_text(&orders))
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
        tx: &mut sqlx::Transaction<'static, Sqlite>,
        orders: &[String],
    ) -> StoreResult<HashMap<String, Vec<schema::GapResponse>>> {
        if orders.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT order_id, day, {DIMENSION_COLUMNS}, csat FROM responses \
             WHERE order_id IN (SELECT value FROM json_each(?1)) AND order_id IS NOT NULL AND csat IS NOT NULL"
        )))
        .bind(json_text(&orders))
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
    async fn apply_gap(
        tx: &mut sqlx::Transaction<'static, Sqlite>,
        delta: &schema::GapDelta,
    ) -> StoreResult<()> {
        if delta.is_empty() {
            return Ok(());
        }
        let dims = schema::gap_dimension_columns("");
        for chunk in delta.cells().chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                "INSERT INTO gap_cells (department, measure, value, day, {dims}, satisfied, answered) "
            ));
            qb.push_values(chunk, |mut b, (dep, measure, value, day, d, sat, n)| {
                b.push_bind(dep.clone())
                    .push_bind(measure.clone())
                    .push_bind(*value)
                    .push_bind(i64::from(*day));
                for dim in Dimension::ALL {
                    b.push_bind(d.get(dim).to_string());
                }
                b.push_bind(*sat).push_bind(*n);
            });
            qb.push(format!(
                " ON CONFLICT (department, measure, value, day, {dims}) DO UPDATE SET \
                 satisfied = satisfied + excluded.satisfied, answered = answered + excluded.answered"
            ));
            qb.build().execute(&mut **tx).await?;
        }
        for chunk in delta.targets().chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO operation_targets (department, measure, target, records) ",
            );
            qb.push_values(chunk, |mut b, (dep, measure, target, n)| {
                b.push_bind(dep.clone())
                    .push_bind(measure.clone())
                    .push_bind(*target)
                    .push_bind(*n);
            });
            qb.push(
                " ON CONFLICT (department, measure, target) DO UPDATE SET records = records + excluded.records",
            );
            qb.build().execute(&mut **tx).await?;
        }
        sqlx::query("UPDATE store_state SET value = value + 1 WHERE key = 'operations_version'")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Replaces `gap_cells` and `operation_targets` by a join of the raw rows.
    async fn rebuild_gaps(tx: &mut sqlx::Transaction<'static, Sqlite>) -> StoreResult<()> {
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
        sqlx::query(
            "UPDATE store_state SET value = CASE key WHEN 'gap_cells_built' THEN 1 ELSE value + 1 END \
             WHERE key IN ('gap_cells_built', 'operations_version')",
        )
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Re-derives the stored day of every response in `zone`, a page at a
    /// time (memory holds one page), then rebuilds the rollups from the
    /// days; a version with no delta in the log makes every cube reload.
    async fn rebucket_and_rebuild(
        tx: &mut sqlx::Transaction<'static, Sqlite>,
        zone: &jiff::tz::TimeZone,
    ) -> StoreResult<TimeZoneChanged> {
        let mut rebucketed = 0u64;
        let mut after = String::new();
        loop {
            let page: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
                "SELECT external_id, submitted_unix, day FROM responses WHERE external_id > ?1 \
                 ORDER BY external_id LIMIT ?2",
            )
            .bind(&after)
            .bind(schema::REBUCKET_PAGE)
            .fetch_all(&mut **tx)
            .await?;
            let Some((last, _, _)) = page.last() else {
                break;
            };
            after = last.clone();
            let moved = schema::moved_days(&page, zone);
            for chunk in moved.chunks(ROWS_PER_STATEMENT * 10) {
                rebucketed += sqlx::query(
                    "UPDATE responses SET day = m.value ->> 1 FROM json_each(?1) AS m \
                     WHERE responses.external_id = m.value ->> 0",
                )
                .bind(json_text(&chunk))
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
        Self::rebuild_moments(tx).await?;
        Self::rebuild_gaps(tx).await?;
        Self::bump_version(tx).await?;
        Ok(TimeZoneChanged { rebucketed, cells })
    }

    /// Stores the time zone setting and re-derives days and rollups, in
    /// one transaction; audited unless it is a copy (`audit` false).
    async fn set_time_zone(&self, setting: &Setting, audit: bool) -> StoreResult<TimeZoneChanged> {
        let zone = settings::stored_time_zone(Some(&setting.value))?;
        let _writing = self.write_lock.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let old: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
            .bind(settings::TIME_ZONE)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_unix, updated_by) VALUES (?1, ?2, ?3, ?4) \
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
                "INSERT INTO audit_log (at_unix, actor, action, target, detail) VALUES (?1, ?2, 'setting.change', ?3, ?4)",
            )
            .bind(setting.updated_unix)
            .bind(&setting.updated_by)
            .bind(settings::TIME_ZONE)
            .bind(settings::change_detail(old.as_deref(), &setting.value))
            .execute(&mut *tx)
            .await?;
        }
        let changed = Self::rebucket_and_rebuild(&mut tx, &zone).await?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn bump_version(tx: &mut sqlx::Transaction<'static, Sqlite>) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "UPDATE store_state SET value = value + 1 WHERE key = 'rollup_version' RETURNING value",
        )
        .fetch_one(&mut **tx)
        .await?)
    }
}

crate::departments::department_records!(
    SqliteStore,
    // After wins are copied with their ids, new wins continue after them.
    "SELECT 1"
);

crate::value_records::value_records!(
    SqliteStore,
    Sqlite,
    // Copied cases and pilots keep their ids; new ones continue after them.
    "SELECT 1"
);

crate::survey_records::survey_records!(
    SqliteStore,
    Sqlite,
    // Copied surveys and invitations keep their ids; new ones continue
    // after them.
    "SELECT 1"
);

#[async_trait]
impl Backend for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        let built: Option<i64> =
            sqlx::query_scalar("SELECT value FROM store_state WHERE key = 'driver_moments_built'")
                .fetch_optional(&self.pool)
                .await?;
        if built == Some(0) {
            // Responses stored before driver moments were kept: fill them in.
            let _writing = self.write_lock.lock().await;
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            Self::rebuild_moments(&mut tx).await?;
            Self::bump_version(&mut tx).await?;
            tx.commit().await?;
        }
        let built: Option<i64> =
            sqlx::query_scalar("SELECT value FROM store_state WHERE key = 'gap_cells_built'")
                .fetch_optional(&self.pool)
                .await?;
        if built == Some(0) {
            // Links of rows stored before they were maintained on write.
            let _writing = self.write_lock.lock().await;
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            Self::rebuild_gaps(&mut tx).await?;
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
        mut rows: Vec<NewResponse>,
        redact: bool,
    ) -> StoreResult<ResponsesWritten> {
        backend::ensure_unique_keys(&rows, "external_id", |r| r.external_id.as_str())?;
        if rows.is_empty() {
            return Ok(ResponsesWritten::default());
        }
        let _writing = self.write_lock.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Read in the write's transaction: a change of either commits
        // before or after this whole write (one writer at a time).
        let stored: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM settings WHERE key IN (?1, ?2)")
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
        if redact && stored_value(settings::REDACT_PERSONAL_DATA) == Some("on") {
            settings::redact_responses(&mut rows);
        }
        let zone = settings::stored_time_zone(stored_value(settings::TIME_ZONE))?;

        let ids: Vec<&str> = rows.iter().map(|r| r.external_id.as_str()).collect();
        let existing_rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RESPONSE_COLUMNS}, day FROM responses WHERE external_id IN (SELECT value FROM json_each(?1))"
        )))
        .bind(json_text(&ids))
        .fetch_all(&mut *tx)
        .await?;
        let mut existing: HashMap<String, NewResponse> =
            HashMap::with_capacity(existing_rows.len());
        let mut stored_days: HashMap<String, Day> = HashMap::with_capacity(existing_rows.len());
        for row in &existing_rows {
            let r = response_from_row(row)?;
            stored_days.insert(r.external_id.clone(), stored_day(row)?);
            existing.insert(r.external_id.clone(), r);
        }

        let (summary, changes) = changes(&rows, &existing, |r| r.external_id.clone());
        let (cells, retracted_days) = schema::rollup_deltas(&changes, &zone, &stored_days);
        let changed: Vec<&NewResponse> = changes.iter().map(|(new, _)| *new).collect();
        if changed.is_empty() {
            tx.commit().await?;
            return Ok(ResponsesWritten {
                summary,
                delta: None,
            });
        }

        let updates: Vec<String> = RESPONSE_COLUMNS
            .names()
            .chain(["day"])
            .filter(|c| *c != "external_id")
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        for chunk in changed.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("INSERT INTO responses ({RESPONSE_COLUMNS}, day) "));
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.external_id.clone())
                    .push_bind(r.customer_id.clone())
                    .push_bind(r.submitted_at.clone())
                    .push_bind(r.submitted_unix);
                for d in Dimension::ALL {
                    b.push_bind(r.dimensions.get(d).to_string());
                }
                b.push_bind(r.nps.map(i64::from))
                    .push_bind(r.csat.map(i64::from))
                    .push_bind(r.ces.map(i64::from))
                    .push_bind(r.fcr.map(i64::from))
                    .push_bind(r.comment.clone())
                    .push_bind(r.order_id.clone())
                    .push_bind(json_text(&r.drivers))
                    .push_bind(json_text(&r.attributes))
                    .push_bind(i64::from(r.day_in(&zone)));
            });
            qb.push(format!(
                " ON CONFLICT (external_id) DO UPDATE SET {}",
                updates.join(", ")
            ));
            qb.build().execute(&mut *tx).await?;
        }

        Self::upsert_rollups(&mut tx, &cells).await?;
        Self::log_moments(
            &mut tx,
            &schema::moment_deltas(&changes, &zone, &stored_days),
        )
        .await?;
        let orders = schema::linked_orders(
            changes
                .iter()
                .flat_map(|(new, old)| std::iter::once(*new).chain(*old)),
        );
        let operations = Self::operations_by_order(&mut tx, &orders).await?;
        Self::apply_gap(
            &mut tx,
            &schema::GapDelta::responses_changed(&changes, &zone, &stored_days, &operations),
        )
        .await?;
        if !retracted_days.is_empty() {
            delete_emptied_days(&mut tx, &retracted_days).await?;
        }
        let version = Self::bump_version(&mut tx).await?;
        let now = now_unix();
        sqlx::query("INSERT INTO rollup_deltas (version, written_unix, cells) VALUES (?1, ?2, ?3)")
            .bind(version)
            .bind(now)
            .bind(backend::encode_cells(&cells))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM rollup_deltas WHERE written_unix < ?1 OR version <= ?2")
            .bind(now - DELTA_LOG_SECONDS)
            .bind(version - DELTA_LOG_VERSIONS)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ResponsesWritten {
            summary,
            delta: Some(RollupDelta { id: version, cells }),
        })
    }

    async fn erase_customer(&self, customer_id: &str) -> StoreResult<ErasureWritten> {
        let _writing = self.write_lock.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RESPONSE_COLUMNS}, day FROM responses WHERE customer_id = ?1"
        )))
        .bind(customer_id)
        .fetch_all(&mut *tx)
        .await?;
        let removed = rows
            .iter()
            .map(|row| Ok((response_from_row(row)?, stored_day(row)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let mut erased = Erased {
            responses: sqlx::query("DELETE FROM responses WHERE customer_id = ?1")
                .bind(customer_id)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
            ..Erased::default()
        };
        let customer = sqlx::query(
            "SELECT customer_id, segment, region, annual_value, churned, churned_on, acquired_on, attributes FROM customers \
             WHERE customer_id = ?1",
        )
        .bind(customer_id)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(customer_from_row)
        .transpose()?;
        erased.customers = sqlx::query("DELETE FROM customers WHERE customer_id = ?1")
            .bind(customer_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for ((segment, day), n) in schema::customer_removal_deltas(customer.as_ref()) {
            sqlx::query(
                "UPDATE customer_segment_counts SET customers = customers + ?3 WHERE segment = ?1 AND churned_day = ?2",
            )
            .bind(segment)
            .bind(day)
            .bind(n)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM customer_segment_counts WHERE customers = 0")
                .execute(&mut *tx)
                .await?;
        }
        if erased.customers > 0 || erased.responses > 0 {
            // Respondent counts and customer bases change with either.
            sqlx::query("UPDATE store_state SET value = value + 1 WHERE key = 'customers_version'")
                .execute(&mut *tx)
                .await?;
        }
        // A pilot's groups name the customer too (personal data): the
        // erased customer leaves them, as their answers leave the evaluation.
        sqlx::query("DELETE FROM pilot_assignments WHERE customer_id = ?1")
            .bind(customer_id)
            .execute(&mut *tx)
            .await?;
        // So do its survey invitations, which hold its address (its
        // opt-out stays: only a hash of the address is kept).
        erased.invitations = sqlx::query("DELETE FROM invitations WHERE customer_id = ?1")
            .bind(customer_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let removed_operations = sqlx::query(
            "DELETE FROM operations WHERE customer_id = ?1 \
             RETURNING order_id, department, measure, value, target",
        )
        .bind(customer_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(gap_operation_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
        erased.operations = removed_operations.len() as u64;
        // The links of what left, with what stays and with each other.
        let removed_links: Vec<schema::GapResponse> = removed
            .iter()
            .filter_map(|(r, day)| schema::GapResponse::of(r, *day))
            .collect();
        let mut orders: Vec<String> = removed_links.iter().map(|r| r.order_id.clone()).collect();
        orders.sort_unstable();
        orders.dedup();
        let operations_left = Self::operations_by_order(&mut tx, &orders).await?;
        let mut orders: Vec<String> = removed_operations
            .iter()
            .map(|o| o.order_id.clone())
            .collect();
        orders.sort_unstable();
        orders.dedup();
        let responses_left = Self::responses_by_order(&mut tx, &orders).await?;
        Self::apply_gap(
            &mut tx,
            &schema::GapDelta::removed(
                &removed_links,
                &removed_operations,
                &operations_left,
                &responses_left,
            ),
        )
        .await?;
        let (cells, days) = schema::removal_deltas(&removed);
        let mut delta = None;
        if !removed.is_empty() {
            Self::upsert_rollups(&mut tx, &cells).await?;
            Self::log_moments(&mut tx, &schema::removal_moment_deltas(&removed)).await?;
            delete_emptied_days(&mut tx, &days).await?;
            let version = Self::bump_version(&mut tx).await?;
            sqlx::query(
                "INSERT INTO rollup_deltas (version, written_unix, cells) VALUES (?1, ?2, ?3)",
            )
            .bind(version)
            .bind(now_unix())
            .bind(backend::encode_cells(&cells))
            .execute(&mut *tx)
            .await?;
            delta = Some(RollupDelta { id: version, cells });
        }
        tx.commit().await?;
        // The pages as they were before the erasure are still in the WAL
        // file: copy the new ones into the database and empty it. Best
        // effort (a long reader can hold it back; the WAL is then
        // overwritten as writes go on).
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await
        {
            Ok((0, _, _)) => {}
            Ok(_) => tracing::warn!(
                "a reader held the WAL after an erasure: the erased rows stay in the WAL file until it is overwritten or the next checkpoint"
            ),
            Err(e) => tracing::warn!(error = %e, "checkpoint after an erasure failed"),
        }
        Ok(ErasureWritten { erased, delta })
    }

    async fn anonymise_before(
        &self,
        before_unix: i64,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<AnonymisedBatch> {
        let _writing = self.write_lock.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let after = after.unwrap_or("");
        // The next `limit` old responses after the cursor, in primary-key
        // order: a run reads each response once, with no time index.
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT external_id FROM responses WHERE external_id > ?1 AND submitted_unix < ?2 \
             ORDER BY external_id LIMIT ?3",
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
                "SELECT order_id, day, {DIMENSION_COLUMNS}, csat FROM responses \
                 WHERE external_id > ?1 AND external_id <= ?2 AND submitted_unix < ?3 \
                 AND order_id IS NOT NULL AND csat IS NOT NULL"
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
                let mut orders: Vec<String> = unlinked.iter().map(|r| r.order_id.clone()).collect();
                orders.sort_unstable();
                orders.dedup();
                let operations = Self::operations_by_order(&mut tx, &orders).await?;
                Self::apply_gap(&mut tx, &schema::GapDelta::unlinked(&unlinked, &operations))
                    .await?;
            }
            batch.responses = sqlx::query(
                "UPDATE responses SET customer_id = NULL, comment = NULL, order_id = NULL, attributes = '{}' \
                 WHERE external_id > ?1 AND external_id <= ?2 AND submitted_unix < ?3 \
                 AND (customer_id IS NOT NULL OR comment IS NOT NULL OR order_id IS NOT NULL OR attributes <> '{}')",
            )
            .bind(after)
            .bind(last)
            .bind(before_unix)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        batch.operations = sqlx::query(
            "UPDATE operations SET customer_id = NULL WHERE rowid IN (SELECT rowid FROM operations \
             WHERE occurred_unix < ?1 AND customer_id IS NOT NULL LIMIT ?2)",
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
            "DELETE FROM invitations WHERE id IN (SELECT id FROM invitations WHERE created_unix < ?1 LIMIT ?2)",
        )
        .bind(before_unix)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if batch.responses > 0 {
            sqlx::query("UPDATE store_state SET value = value + 1 WHERE key = 'customers_version'")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(batch)
    }

    async fn list_responses(&self, query: &ResponseListQuery) -> StoreResult<Vec<NewResponse>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {RESPONSE_COLUMNS} FROM responses WHERE TRUE"
        ));
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
            "SELECT {RESPONSE_COLUMNS} FROM responses WHERE external_id = ?1"
        )))
        .bind(external_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(response_from_row).transpose()
    }

    async fn write_customers(&self, rows: Vec<NewCustomer>) -> StoreResult<WriteSummary> {
        backend::ensure_unique_keys(&rows, "customer_id", |c| c.customer_id.as_str())?;
        if rows.is_empty() {
            return Ok(WriteSummary::default());
        }
        let _writing = self.write_lock.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let ids: Vec<&str> = rows.iter().map(|c| c.customer_id.as_str()).collect();
        let stored = sqlx::query(
            "SELECT customer_id, segment, region, annual_value, churned, churned_on, acquired_on, attributes FROM customers \
             WHERE customer_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_text(&ids))
        .fetch_all(&mut *tx)
        .await?;
        let mut existing = HashMap::with_capacity(stored.len());
        for row in &stored {
            let c = customer_from_row(row)?;
            existing.insert(c.customer_id.clone(), c);
        }
        let (summary, changes) = changes(&rows, &existing, |c| c.customer_id.clone());
        // Customers per (segment, churn day), kept on write like the rollups.
        let counts = schema::customer_count_deltas(&changes);
        let changed: Vec<&NewCustomer> = changes.iter().map(|(new, _)| *new).collect();
        for chunk in changed.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO customers (customer_id, segment, region, annual_value, churned, churned_on, acquired_on, attributes) ",
            );
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.customer_id.clone())
                    .push_bind(c.segment.clone())
                    .push_bind(c.region.clone())
                    .push_bind(c.annual_value)
                    .push_bind(c.churned.map(i64::from))
                    .push_bind(c.churned_on)
                    .push_bind(c.acquired_on)
                    .push_bind(json_text(&c.attributes));
            });
            qb.push(
                " ON CONFLICT (customer_id) DO UPDATE SET segment = excluded.segment, region = excluded.region, \
                 annual_value = excluded.annual_value, churned = excluded.churned, churned_on = excluded.churned_on, acquired_on = excluded.acquired_on, \
                 attributes = excluded.attributes",
            );
            qb.build().execute(&mut *tx).await?;
        }
        for chunk in counts.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO customer_segment_counts (segment, churned_day, customers) ",
            );
            qb.push_values(chunk, |mut b, ((segment, day), n)| {
                b.push_bind(segment.clone()).push_bind(*day).push_bind(*n);
            });
            qb.push(
                " ON CONFLICT (segment, churned_day) DO UPDATE SET customers = customers + excluded.customers",
            );
            qb.build().execute(&mut *tx).await?;
        }
        if !counts.is_empty() {
            sqlx::query("DELETE FROM customer_segment_counts WHERE customers = 0")
                .execute(&mut *tx)
                .await?;
        }
        if !changed.is_empty() {
            sqlx::query("UPDATE store_state SET value = value + 1 WHERE key = 'customers_version'")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(summary)
    }

    async fn write_operations(&self, batch: Vec<NewOperation>) -> StoreResult<WriteSummary> {
        let key = |o: &NewOperation| json_text(&[&o.department, &o.order_id, &o.measure]);
        let rows = batch;
        backend::ensure_unique_keys(&rows, "operation (department, order_id, measure)", key)?;
        if rows.is_empty() {
            return Ok(WriteSummary::default());
        }
        let _writing = self.write_lock.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let keys: Vec<[&str; 3]> = rows
            .iter()
            .map(|o| {
                [
                    o.department.as_str(),
                    o.order_id.as_str(),
                    o.measure.as_str(),
                ]
            })
            .collect();
        let stored = sqlx::query(
            "SELECT department, order_id, measure, customer_id, occurred_at, occurred_unix, value, target, attributes \
             FROM operations WHERE (department, order_id, measure) IN \
             (SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1))",
        )
        .bind(json_text(&keys))
        .fetch_all(&mut *tx)
        .await?;
        let mut existing = HashMap::with_capacity(stored.len());
        for row in &stored {
            let o = operation_from_row(row)?;
            existing.insert(key(&o), o);
        }
        let (summary, changes) = changes(&rows, &existing, key);
        let changed: Vec<&NewOperation> = changes.iter().map(|(new, _)| *new).collect();
        for chunk in changed.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO operations (department, order_id, measure, customer_id, occurred_at, occurred_unix, value, target, attributes) ",
            );
            qb.push_values(chunk, |mut b, o| {
                b.push_bind(o.department.clone())
                    .push_bind(o.order_id.clone())
                    .push_bind(o.measure.clone())
                    .push_bind(o.customer_id.clone())
                    .push_bind(o.occurred_at.clone())
                    .push_bind(o.occurred_unix)
                    .push_bind(o.value)
                    .push_bind(o.target)
                    .push_bind(json_text(&o.attributes));
            });
            qb.push(
                " ON CONFLICT (department, order_id, measure) DO UPDATE SET customer_id = excluded.customer_id, \
                 occurred_at = excluded.occurred_at, occurred_unix = excluded.occurred_unix, value = excluded.value, \
                 target = excluded.target, attributes = excluded.attributes",
            );
            qb.build().execute(&mut *tx).await?;
        }
        let mut orders: Vec<String> = changed.iter().map(|o| o.order_id.clone()).collect();
        orders.sort_unstable();
        orders.dedup();
        let responses = Self::responses_by_order(&mut tx, &orders).await?;
        Self::apply_gap(
            &mut tx,
            &schema::GapDelta::operations_changed(&changes, &responses),
        )
        .await?;
        tx.commit().await?;
        Ok(summary)
    }

    async fn data_versions(&self) -> StoreResult<DataVersions> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT key, value FROM store_state WHERE key IN ('rollup_version', 'customers_version', 'operations_version')",
        )
        .fetch_all(&self.pool)
        .await?;
        let get = |k: &str| rows.iter().find(|(key, _)| key == k).map_or(0, |(_, v)| *v);
        Ok(DataVersions {
            rollups: get("rollup_version"),
            customers: get("customers_version"),
            operations: get("operations_version"),
        })
    }

    async fn load_rollups(&self) -> StoreResult<(CubePosition, Vec<RollupCell>)> {
        // One read transaction: the version and the cells are one snapshot.
        let mut tx = self.pool.begin().await?;
        let version: i64 =
            sqlx::query_scalar("SELECT value FROM store_state WHERE key = 'rollup_version'")
                .fetch_one(&mut *tx)
                .await?;
        let sql = format!(
            "SELECT day, {DIMENSION_COLUMNS}, {} FROM rollups_daily",
            COUNTER_COLUMNS.join(", ")
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let cells = rows
            .iter()
            .map(rollup_cell_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((CubePosition::Serial(version), cells))
    }

    async fn rollup_deltas_since(&self, position: &CubePosition) -> StoreResult<DeltasSince> {
        let CubePosition::Serial(version) = *position else {
            return Ok(DeltasSince::Reload);
        };
        let current: i64 =
            sqlx::query_scalar("SELECT value FROM store_state WHERE key = 'rollup_version'")
                .fetch_one(&self.pool)
                .await?;
        if current == version {
            return Ok(DeltasSince::Current);
        }
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, cells FROM rollup_deltas WHERE version > ?1 AND version <= ?2 ORDER BY version",
        )
        .bind(version)
        .bind(current)
        .fetch_all(&self.pool)
        .await?;
        // Every version in between must be in the log (a rebuild writes
        // none). Versions only grow, so rows up to `current` are final.
        let contiguous = rows.len() as i64 == current - version
            && rows
                .iter()
                .enumerate()
                .all(|(i, (v, _))| *v == version + 1 + i as i64);
        if !contiguous {
            return Ok(DeltasSince::Reload);
        }
        let mut deltas = Vec::with_capacity(rows.len());
        for (v, bytes) in rows {
            match backend::decode_cells(&bytes) {
                Ok(cells) => deltas.push(RollupDelta { id: v, cells }),
                Err(e) => {
                    // Written by another version, or damaged: the table is
                    // the truth, so load it instead of failing every query.
                    tracing::warn!(version = v, error = %e, "unreadable rollup delta; reloading the cube");
                    return Ok(DeltasSince::Reload);
                }
            }
        }
        Ok(DeltasSince::Replay {
            deltas,
            to: CubePosition::Serial(current),
        })
    }

    fn position_after(&self, position: &CubePosition, delta: &RollupDelta) -> Option<CubePosition> {
        match position {
            CubePosition::Serial(v) if *v == delta.id - 1 => Some(CubePosition::Serial(delta.id)),
            _ => None,
        }
    }

    async fn customer_segments(&self, active_from: Option<Day>) -> StoreResult<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT segment, SUM(customers) FROM customer_segment_counts \
             WHERE segment <> '' AND churned_day >= ?1 GROUP BY segment HAVING SUM(customers) > 0 ORDER BY segment",
        )
        .bind(active_from.map_or(i64::MIN, i64::from))
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
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT CASE WHEN c.customer_id IS NULL THEN r.segment ELSE COALESCE(c.segment, '') END AS seg, \
             CASE WHEN r.customer_id IS NULL THEN 2 WHEN c.customer_id IS NULL THEN 1 ELSE 0 END AS source, \
             COUNT(DISTINCT COALESCE('c' || r.customer_id, 'a' || r.id)) \
             FROM responses r LEFT JOIN customers c ON c.customer_id = r.customer_id \
             WHERE r.nps IS NOT NULL",
        );
        push_selection(&mut qb, query, "r.");
        qb.push(" GROUP BY 1, 2 ORDER BY 1");
        let rows: Vec<(String, i64, i64)> = qb.build_query_as().fetch_all(&self.pool).await?;
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
        let key = schema::attribute_expression(attribute, |column| format!("{column} ->> "));
        let counters = schema::counter_select(
            |c| format!("COALESCE(SUM({c}), 0)"),
            "r.fcr = 1",
            "r.fcr = 0",
            "r.",
        );
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT COALESCE(");
        qb.push(key);
        if let BreakdownAttribute::Response(name) | BreakdownAttribute::Customer(name) = attribute {
            qb.push_bind(name.clone());
        }
        qb.push(format!(
            ", '') AS key, COUNT(*) AS responses, {counters} FROM responses r \
             LEFT JOIN customers c ON c.customer_id = r.customer_id WHERE TRUE"
        ));
        push_selection(&mut qb, query, "r.");
        qb.push(" GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ")
            .push_bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX));
        let rows = qb.build().fetch_all(&self.pool).await?;
        attribute_summaries_from(&rows, limit)
    }

    async fn gap_counts(&self, query: &GapQuery) -> StoreResult<GapCounts> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
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
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(schema::loyalty_latest(by));
        push_selection(&mut qb, query, "r.");
        qb.push(schema::loyalty_rest(by, "c.churned = 1"));
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
            |c| format!("COALESCE(SUM({c}), 0)"),
            "r.fcr = 1",
            "r.fcr = 0",
            "r.",
        );
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT ");
        for (i, attribute) in attributes.iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            qb.push("COALESCE(")
                .push(schema::attribute_expression(attribute, |column| {
                    format!("{column} ->> ")
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
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT COALESCE(");
        qb.push(schema::attribute_expression(attribute, |column| {
            format!("{column} ->> ")
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
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT CAST(r.{column} AS INTEGER), r.drivers, CAST(r.day AS BIGINT) FROM responses r WHERE r.{column} IS NOT NULL"
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
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
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
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
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
            "SELECT r.external_id, r.day, {dims}, r.nps, r.csat, r.ces, r.fcr, r.attributes, \
             c.customer_id IS NOT NULL AS known, c.region, c.segment, c.attributes AS customer_attributes \
             FROM responses r LEFT JOIN customers c ON c.customer_id = r.customer_id \
             WHERE r.external_id > ?1 ORDER BY r.external_id LIMIT ?2",
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
        Self::raw_moment_cells(&mut conn).await
    }

    async fn driver_moment_cells(&self) -> StoreResult<Vec<MomentCell>> {
        // The table and the log in one snapshot.
        let mut tx = self.pool.begin().await?;
        let cells = Self::moment_cells_with_log(&mut tx).await?;
        tx.commit().await?;
        Ok(cells)
    }

    async fn rebuild_rollups(&self) -> StoreResult<u64> {
        let _writing = self.write_lock.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let zone: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
            .bind(settings::TIME_ZONE)
            .fetch_optional(&mut *tx)
            .await?;
        let zone = settings::stored_time_zone(zone.as_deref())?;
        let changed = Self::rebucket_and_rebuild(&mut tx, &zone).await?;
        tx.commit().await?;
        Ok(changed.cells)
    }

    async fn rollup_cells(&self) -> StoreResult<Vec<RollupCell>> {
        let sql = format!(
            "SELECT day, {DIMENSION_COLUMNS}, {} FROM rollups_daily ORDER BY day, {DIMENSION_COLUMNS}",
            COUNTER_COLUMNS.join(", ")
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rollup_cell_from_row).collect()
    }

    async fn rollup_cells_between(
        &self,
        from: Day,
        to: Day,
        filter: &[(Dimension, String)],
    ) -> StoreResult<Vec<RollupCell>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT day, {DIMENSION_COLUMNS}, {} FROM rollups_daily WHERE day BETWEEN ",
            COUNTER_COLUMNS.join(", ")
        ));
        qb.push_bind(i64::from(from))
            .push(" AND ")
            .push_bind(i64::from(to));
        push_dimension_filter(&mut qb, filter, "");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(rollup_cell_from_row).collect()
    }

    async fn rollup_cells_from_raw(&self) -> StoreResult<Vec<RollupCell>> {
        let sql = format!("{} ORDER BY 1, {DIMENSION_COLUMNS}", raw_rollup_select());
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rollup_cell_from_row).collect()
    }

    async fn counts(&self) -> StoreResult<StoreCounts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM responses), (SELECT COUNT(*) FROM customers), \
             (SELECT COUNT(*) FROM operations), (SELECT COUNT(*) FROM rollups_daily), \
             (SELECT COUNT(*) FROM rollup_deltas)",
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
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
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("2067") => {
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
            "SELECT id, email, role, department, disabled, created_unix, password_hash FROM users WHERE email = ?1",
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
        // The write lock first, so the admin count below is current.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let was_active_admin: bool = sqlx::query_scalar(
            "SELECT COUNT(*) > 0 FROM users WHERE email = ?1 AND role = 'admin' AND disabled = false",
        )
        .bind(email)
        .fetch_one(&mut *tx)
        .await?;
        let (role, department) = match &change.role {
            Some((r, d)) => (Some(r.as_str()), d.clone()),
            None => (None, None),
        };
        let row = sqlx::query(
            "UPDATE users SET role = COALESCE(?1, role), \
             department = CASE WHEN ?1 IS NULL THEN department ELSE ?2 END, \
             disabled = COALESCE(?3, disabled), password_hash = COALESCE(?4, password_hash), \
             updated_unix = ?5 WHERE email = ?6 \
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
            sqlx::query("DELETE FROM sessions WHERE user_id = ?1")
                .bind(user.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn active_admins(&self) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
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
             VALUES (?1, ?2, ?3, ?4, ?4)",
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
             WHERE s.token_hash = ?1 AND u.disabled = 0",
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
        sqlx::query("UPDATE sessions SET last_seen_unix = ?1 WHERE token_hash = ?2")
            .bind(now_unix)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?1")
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
            sqlx::query("DELETE FROM sessions WHERE last_seen_unix < ?1 OR created_unix < ?2")
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
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id, name, role, department, created_unix, last_used_unix, revoked_unix",
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
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("2067") => {
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
            "SELECT id, name, role, department, created_unix, last_used_unix, revoked_unix FROM api_tokens WHERE token_hash = ?1 AND revoked_unix IS NULL",
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
                "UPDATE api_tokens SET last_used_unix = ?1 WHERE token_hash = ?2 AND revoked_unix IS NULL",
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
            "UPDATE api_tokens SET revoked_unix = ?1 \
             WHERE name = ?2 AND revoked_unix IS NULL RETURNING id, name, role, department, created_unix, last_used_unix, revoked_unix",
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
            sqlx::query("INSERT INTO sign_in_failures (key, at_unix) VALUES (?1, ?2)")
                .bind(key)
                .bind(now_unix)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM sign_in_failures WHERE at_unix < ?1")
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sign_in_failures(&self, key: &str, since_unix: i64) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sign_in_failures WHERE key = ?1 AND at_unix >= ?2",
        )
        .bind(key)
        .bind(since_unix)
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn clear_sign_in_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE key = ?1")
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
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
             WHERE id > ?1 ORDER BY id LIMIT ?2",
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
                "INSERT OR IGNORE INTO audit_log (id, at_unix, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
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
        tx.commit().await?;
        Ok(written)
    }

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (at_unix, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
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
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
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
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let old: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_unix, updated_by) VALUES (?1, ?2, ?3, ?4) \
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
            "INSERT INTO audit_log (at_unix, actor, action, target, detail) VALUES (?1, ?2, 'setting.change', ?3, ?4)",
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
            "INSERT INTO settings (key, value, updated_unix, updated_by) VALUES (?1, ?2, ?3, 'system') \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .bind(now_unix)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
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
            "INSERT INTO settings (key, value, updated_unix, updated_by) VALUES (?1, ?2, ?3, ?4) \
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

    async fn backup_to(&self, path: &std::path::Path) -> StoreResult<()> {
        if path.exists() {
            return Err(StoreError::NotReady(format!(
                "{} already exists; a backup never overwrites a file",
                path.display()
            )));
        }
        let target = path.to_str().ok_or_else(|| {
            StoreError::NotReady(format!("{} is not a UTF-8 path", path.display()))
        })?;
        sqlx::query("VACUUM INTO ?1")
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn responses_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<NewResponse>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RESPONSE_COLUMNS} FROM responses WHERE ?1 IS NULL OR external_id > ?1 ORDER BY external_id LIMIT ?2"
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
            "SELECT customer_id, segment, region, annual_value, churned, churned_on, acquired_on, attributes FROM customers \
             WHERE ?1 IS NULL OR customer_id > ?1 ORDER BY customer_id LIMIT ?2",
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
            "SELECT department, order_id, measure, customer_id, occurred_at, occurred_unix, value, target, attributes FROM operations \
             WHERE ?1 IS NULL OR (department, order_id, measure) > (?1, ?2, ?3) \
             ORDER BY department, order_id, measure LIMIT ?4",
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

/// Appends a respondent selection's conditions (the responses' stored days,
/// dimension values, any of several per dimension) to a query, on columns
/// of the responses table named with `prefix` (`""` or `"r."`).
fn push_selection(qb: &mut QueryBuilder<Sqlite>, selection: &RespondentQuery, prefix: &str) {
    if let Some(from) = selection.from {
        qb.push(format!(" AND {prefix}day >= "))
            .push_bind(i64::from(from));
    }
    if let Some(to) = selection.to {
        qb.push(format!(" AND {prefix}day <= "))
            .push_bind(i64::from(to));
    }
    push_dimension_filter(qb, &selection.filter, prefix);
}

/// Appends "dimension is any of these values" for each dimension the
/// filter names, on columns named with `prefix`.
fn push_dimension_filter(
    qb: &mut QueryBuilder<Sqlite>,
    filter: &[(Dimension, String)],
    prefix: &str,
) {
    for d in Dimension::ALL {
        let values: Vec<&str> = filter
            .iter()
            .filter(|(fd, _)| *fd == d)
            .map(|(_, v)| v.as_str())
            .collect();
        if !values.is_empty() {
            qb.push(format!(
                " AND {prefix}{} IN (SELECT value FROM json_each(",
                d.as_str()
            ))
            .push_bind(json_text(&values))
            .push("))");
        }
    }
}

/// Deletes the rollup rows of these days whose counters all went to zero
/// (a retraction or an erasure emptied them), as a rebuild would not have
/// them.
async fn delete_emptied_days(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    days: &[Day],
) -> StoreResult<()> {
    let all_zero: Vec<String> = COUNTER_COLUMNS.iter().map(|c| format!("{c} = 0")).collect();
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM rollups_daily WHERE day IN (SELECT value FROM json_each(?1)) AND {}",
        all_zero.join(" AND ")
    )))
    .bind(json_text(&days))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
