//! Departments as partners, stored: department records with their goals,
//! external KPI values per period, wins, and the North Star. The SQL is the
//! same on both backends (`$n` parameters, which SQLite reads too), so one
//! macro writes both implementations and they cannot drift apart.

use northstar_core::calendar::Day;
use northstar_core::department::NewWin;

use crate::{StoreError, StoreResult};

/// Most wins a read returns (newest first).
pub const MAX_WINS: i64 = 1_000;
/// Most external KPI values kept per department and KPI (about 80 years of
/// months).
pub const MAX_KPI_VALUES: usize = 1_000;
/// Most operational records one KPI reads; a larger department-measure
/// pair is refused with this limit named (ask for a shorter period).
pub const MAX_KPI_RECORDS: usize = 5_000_000;

/// A stored record with who changed it last.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stamped<T> {
    #[serde(flatten)]
    pub record: T,
    pub updated_by: String,
    pub updated_unix: i64,
}

/// A win as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Win {
    pub id: i64,
    pub department: String,
    #[serde(flatten)]
    pub win: NewWin,
    pub recorded_by: String,
    pub recorded_unix: i64,
}

/// An external KPI's value for one period (inclusive days).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KpiPeriodValue {
    pub period_start: Day,
    pub period_end: Day,
    pub value: f64,
    pub entered_by: String,
    pub entered_unix: i64,
}

/// Most wins an organisation keeps (reads show the newest [`MAX_WINS`]).
pub const MAX_STORED_WINS: i64 = 10_000;
/// Most wins one department keeps (one department cannot use up the
/// organisation's limit).
pub const MAX_WINS_PER_DEPARTMENT: i64 = 500;

/// Everything the department records hold, as stored (`copy` carries it
/// whole and compares it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DepartmentData {
    pub departments: Vec<Stamped<northstar_core::department::Department>>,
    /// (department, measure, value).
    pub kpi_values: Vec<(String, String, KpiPeriodValue)>,
    /// Oldest first.
    pub wins: Vec<Win>,
    pub north_star: Option<Stamped<northstar_core::department::NorthStar>>,
    /// Digest subscriptions with their tokens (unsubscribe links keep
    /// working after a copy) and the weeks sent.
    pub digest_subscriptions: Vec<DigestSubscription>,
    pub digest_sends: Vec<DigestSend>,
}

impl DepartmentData {
    /// Rows it holds.
    pub fn rows(&self) -> u64 {
        (self.departments.len()
            + self.kpi_values.len()
            + self.wins.len()
            + self.digest_subscriptions.len()
            + self.digest_sends.len()) as u64
            + u64::from(self.north_star.is_some())
    }
}

/// One operational record as a KPI reads it: when it happened (unix
/// seconds; `None` when the file gave no date), its value and target.
pub type KpiRecordRow = (Option<i64>, f64, Option<f64>);

pub(crate) fn document<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("record to JSON: {e}")))
}

pub(crate) fn from_document<T: serde::de::DeserializeOwned>(
    table: &str,
    text: &str,
) -> StoreResult<T> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{table}.document is not readable: {e}")))
}

pub(crate) fn day_of(column: &str, value: i64) -> StoreResult<Day> {
    Day::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("{column} {value} is out of range")))
}

/// Refuses a department's KPI values past [`MAX_KPI_VALUES`].
pub(crate) fn check_kpi_values(count: usize) -> StoreResult<()> {
    if count > MAX_KPI_VALUES {
        return Err(StoreError::Limit {
            field: "values".into(),
            message: format!(
                "a KPI keeps at most {MAX_KPI_VALUES} period values; this would make {count}"
            ),
        });
    }
    Ok(())
}

pub(crate) fn too_many_records() -> StoreError {
    StoreError::Limit {
        field: "from".into(),
        message: format!(
            "the KPI would read more than {MAX_KPI_RECORDS} records; ask for a shorter period (from, to)"
        ),
    }
}

/// Most recipients of one department's digest.
pub const MAX_DIGEST_RECIPIENTS: usize = 100;

/// An address subscribed to a department's weekly digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSubscription {
    pub department: String,
    pub email: String,
    /// The secret of its unsubscribe link (32 random bytes, hex).
    pub token: String,
    /// When it unsubscribed; `None` while it receives the digest.
    pub unsubscribed_unix: Option<i64>,
    pub created_unix: i64,
}

/// A department's digest sent (or being sent) for a week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSend {
    pub department: String,
    /// The week's Monday.
    pub week_start: Day,
    pub sent_unix: i64,
    pub recipients: i64,
}

/// Refuses more addresses than a digest goes to.
pub(crate) fn check_digest_recipients(count: usize) -> StoreResult<()> {
    if count > MAX_DIGEST_RECIPIENTS {
        return Err(StoreError::Limit {
            field: "recipients".into(),
            message: format!(
                "a department's digest goes to at most {MAX_DIGEST_RECIPIENTS} addresses; this would make {count}"
            ),
        });
    }
    Ok(())
}

pub(crate) type SubscriptionRow = (String, String, String, Option<i64>, i64);

pub(crate) fn subscription_of(
    (department, email, token, unsubscribed_unix, created_unix): SubscriptionRow,
) -> DigestSubscription {
    DigestSubscription {
        department,
        email,
        token,
        unsubscribed_unix,
        created_unix,
    }
}

/// What a backend stores for departments as partners (a part of
/// [`crate::Backend`]).
#[async_trait::async_trait]
pub trait DepartmentRecords: Send + Sync {
    /// Creates or replaces a department's record (with its goals) and
    /// audits it (`department.create` / `department.change`); at most
    /// [`northstar_core::department::MAX_DEPARTMENTS`].
    async fn put_department(
        &self,
        department: &northstar_core::department::Department,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<()>;
    /// Every department, by name.
    async fn departments(
        &self,
    ) -> StoreResult<Vec<crate::departments::Stamped<northstar_core::department::Department>>>;
    /// Enters or replaces an external KPI's values, one per period
    /// (start, end, value), keyed by the period's start; audited.
    async fn put_kpi_values(
        &self,
        department: &str,
        measure: &str,
        values: &[(
            northstar_core::calendar::Day,
            northstar_core::calendar::Day,
            f64,
        )],
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<()>;
    /// An external KPI's values, by period start.
    async fn kpi_values(
        &self,
        department: &str,
        measure: &str,
    ) -> StoreResult<Vec<crate::departments::KpiPeriodValue>>;
    /// Records a win credited to a department; audited. Returns its id.
    async fn add_win(
        &self,
        department: &str,
        win: &northstar_core::department::NewWin,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<i64>;
    /// Wins, newest first (at most [`crate::departments::MAX_WINS`]), of
    /// one department or all.
    async fn wins(&self, department: Option<&str>) -> StoreResult<Vec<crate::departments::Win>>;
    /// Sets the North Star; audited.
    async fn put_north_star(
        &self,
        north_star: &northstar_core::department::NorthStar,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<()>;
    async fn north_star(
        &self,
    ) -> StoreResult<Option<crate::departments::Stamped<northstar_core::department::NorthStar>>>;
    /// Every department record, KPI value, win and the North Star, as stored.
    async fn department_data(&self) -> StoreResult<DepartmentData>;
    /// Writes records read by [`DepartmentRecords::department_data`] as
    /// they are (stamps and win ids kept; no audit entries: the audit log
    /// is copied itself). Returns the rows written.
    async fn put_copied_department_data(&self, data: &DepartmentData) -> StoreResult<u64>;
    /// Customers by segment and lifecycle dates (acquired, churned), for
    /// acquisition and retention rates (the executive view).
    async fn customer_lifecycle(
        &self,
    ) -> StoreResult<Vec<(String, northstar_core::lifecycle::LifecycleCount)>>;
    /// A department's operational records of one measure that happened in
    /// `[from_unix, to_unix)`, as a KPI reads them (at most
    /// [`crate::departments::MAX_KPI_RECORDS`], else `StoreError::Limit`).
    async fn kpi_records(
        &self,
        department: &str,
        measure: &str,
        from_unix: i64,
        to_unix: i64,
    ) -> StoreResult<Vec<crate::departments::KpiRecordRow>>;
    /// How many of a department's records of a measure carry no date (no
    /// KPI period counts them).
    async fn kpi_undated_records(&self, department: &str, measure: &str) -> StoreResult<u64>;
    /// Subscribes each address to a department's digest unless it already
    /// has a row (so an unsubscribe sticks), each with a new random token,
    /// and drops the active subscriptions of addresses no longer given (a
    /// former ambassador stops receiving it; unsubscribed rows stay).
    /// Returns how many were added. At most
    /// [`crate::departments::MAX_DIGEST_RECIPIENTS`] addresses, else
    /// `StoreError::Limit`.
    async fn ensure_digest_subscriptions(
        &self,
        department: &str,
        emails: &[String],
        now_unix: i64,
    ) -> StoreResult<usize>;
    /// A department's active subscriptions (its digest's recipients), by
    /// e-mail.
    async fn digest_recipients(
        &self,
        department: &str,
    ) -> StoreResult<Vec<crate::departments::DigestSubscription>>;
    /// The subscription an unsubscribe link's token names.
    async fn digest_subscription(
        &self,
        token: &str,
    ) -> StoreResult<Option<crate::departments::DigestSubscription>>;
    /// Unsubscribes the address a token names (idempotent: a second call
    /// keeps the first time). `None` for an unknown token.
    async fn unsubscribe_digest(
        &self,
        token: &str,
        now_unix: i64,
    ) -> StoreResult<Option<crate::departments::DigestSubscription>>;
    /// Claims a department's digest for a week: inserts the row unless it
    /// exists. True when this call claimed it (only one caller does, across
    /// processes).
    async fn record_digest_send(
        &self,
        department: &str,
        week_start: northstar_core::calendar::Day,
        recipients: i64,
        now_unix: i64,
    ) -> StoreResult<bool>;
    /// Gives a claimed week back (its send failed), so a later run sends it.
    async fn release_digest_week(
        &self,
        department: &str,
        week_start: northstar_core::calendar::Day,
    ) -> StoreResult<()>;
    /// The week's send of a department's digest, if claimed.
    async fn digest_send(
        &self,
        department: &str,
        week_start: northstar_core::calendar::Day,
    ) -> StoreResult<Option<crate::departments::DigestSend>>;
}

/// Implements [`DepartmentRecords`] for a store with a `pool` and an
/// inherent `begin_write`.
macro_rules! department_records {
    ($store:ty, $after_copied_wins:expr) => {
        #[async_trait::async_trait]
        impl crate::departments::DepartmentRecords for $store {
        async fn put_department(
            &self,
            department: &northstar_core::department::Department,
            actor: &str,
            now_unix: i64,
        ) -> StoreResult<()> {
            let text = crate::departments::document(department)?;
            let mut tx = self.begin_write().await?;
            let existed: Option<String> =
                sqlx::query_scalar("SELECT name FROM departments WHERE name = $1")
                    .bind(&department.name)
                    .fetch_optional(&mut *tx)
                    .await?;
            if existed.is_none() {
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM departments")
                    .fetch_one(&mut *tx)
                    .await?;
                if count >= northstar_core::department::MAX_DEPARTMENTS as i64 {
                    return Err(StoreError::Limit {
                        field: "name".into(),
                        message: format!(
                            "an organisation keeps at most {} departments",
                            northstar_core::department::MAX_DEPARTMENTS
                        ),
                    });
                }
            }
            sqlx::query(
                "INSERT INTO departments (name, document, updated_unix, updated_by) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET document = excluded.document, \
                 updated_unix = excluded.updated_unix, updated_by = excluded.updated_by",
            )
            .bind(&department.name)
            .bind(&text)
            .bind(now_unix)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO audit_log (at_unix, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(now_unix)
            .bind(actor)
            .bind(if existed.is_some() { "department.change" } else { "department.create" })
            .bind(&department.name)
            .bind(format!("{} goals", department.goals.len()))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn departments(
            &self,
        ) -> StoreResult<Vec<crate::departments::Stamped<northstar_core::department::Department>>> {
            let rows: Vec<(String, i64, String)> = sqlx::query_as(
                "SELECT document, updated_unix, updated_by FROM departments ORDER BY name",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter()
                .map(|(text, updated_unix, updated_by)| {
                    Ok(crate::departments::Stamped {
                        record: crate::departments::from_document("departments", &text)?,
                        updated_by,
                        updated_unix,
                    })
                })
                .collect()
        }

        async fn put_kpi_values(
            &self,
            department: &str,
            measure: &str,
            values: &[(northstar_core::calendar::Day, northstar_core::calendar::Day, f64)],
            actor: &str,
            now_unix: i64,
        ) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            for (start, end, value) in values {
                sqlx::query(
                    "INSERT INTO kpi_values (department, measure, period_start, period_end, value, entered_by, entered_unix) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (department, measure, period_start) DO UPDATE SET \
                     period_end = excluded.period_end, value = excluded.value, \
                     entered_by = excluded.entered_by, entered_unix = excluded.entered_unix",
                )
                .bind(department)
                .bind(measure)
                .bind(i64::from(*start))
                .bind(i64::from(*end))
                .bind(*value)
                .bind(actor)
                .bind(now_unix)
                .execute(&mut *tx)
                .await?;
            }
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM kpi_values WHERE department = $1 AND measure = $2",
            )
            .bind(department)
            .bind(measure)
            .fetch_one(&mut *tx)
            .await?;
            crate::departments::check_kpi_values(usize::try_from(count).unwrap_or(usize::MAX))?;
            sqlx::query(
                "INSERT INTO audit_log (at_unix, actor, action, target, detail) VALUES ($1, $2, 'kpi.values', $3, $4)",
            )
            .bind(now_unix)
            .bind(actor)
            .bind(format!("{department}/{measure}"))
            .bind(format!("{} period values", values.len()))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn kpi_values(
            &self,
            department: &str,
            measure: &str,
        ) -> StoreResult<Vec<crate::departments::KpiPeriodValue>> {
            let rows: Vec<(i64, i64, f64, String, i64)> = sqlx::query_as(
                "SELECT period_start, period_end, value, entered_by, entered_unix FROM kpi_values \
                 WHERE department = $1 AND measure = $2 ORDER BY period_start",
            )
            .bind(department)
            .bind(measure)
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter()
                .map(|(start, end, value, entered_by, entered_unix)| {
                    Ok(crate::departments::KpiPeriodValue {
                        period_start: crate::departments::day_of("kpi_values.period_start", start)?,
                        period_end: crate::departments::day_of("kpi_values.period_end", end)?,
                        value,
                        entered_by,
                        entered_unix,
                    })
                })
                .collect()
        }

        async fn add_win(
            &self,
            department: &str,
            win: &northstar_core::department::NewWin,
            actor: &str,
            now_unix: i64,
        ) -> StoreResult<i64> {
            let text = crate::departments::document(win)?;
            let mut tx = self.begin_write().await?;
            let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wins")
                .fetch_one(&mut *tx)
                .await?;
            let own: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wins WHERE department = $1")
                .bind(department)
                .fetch_one(&mut *tx)
                .await?;
            if own >= crate::departments::MAX_WINS_PER_DEPARTMENT {
                return Err(StoreError::Limit {
                    field: "title".into(),
                    message: format!(
                        "a department keeps at most {} wins",
                        crate::departments::MAX_WINS_PER_DEPARTMENT
                    ),
                });
            }
            if stored >= crate::departments::MAX_STORED_WINS {
                return Err(StoreError::Limit {
                    field: "title".into(),
                    message: format!(
                        "an organisation keeps at most {} wins",
                        crate::departments::MAX_STORED_WINS
                    ),
                });
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO wins (department, document, recorded_by, recorded_unix) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(department)
            .bind(&text)
            .bind(actor)
            .bind(now_unix)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO audit_log (at_unix, actor, action, target, detail) VALUES ($1, $2, 'win.record', $3, $4)",
            )
            .bind(now_unix)
            .bind(actor)
            .bind(department)
            .bind(format!("win {id}"))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(id)
        }

        async fn wins(&self, department: Option<&str>) -> StoreResult<Vec<crate::departments::Win>> {
            let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
                "SELECT id, department, document, recorded_by, recorded_unix FROM wins \
                 WHERE ($1 IS NULL OR department = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(department)
            .bind(crate::departments::MAX_WINS)
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter()
                .map(|(id, department, text, recorded_by, recorded_unix)| {
                    Ok(crate::departments::Win {
                        id,
                        department,
                        win: crate::departments::from_document("wins", &text)?,
                        recorded_by,
                        recorded_unix,
                    })
                })
                .collect()
        }

        async fn put_north_star(
            &self,
            north_star: &northstar_core::department::NorthStar,
            actor: &str,
            now_unix: i64,
        ) -> StoreResult<()> {
            let text = crate::departments::document(north_star)?;
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO north_star (id, document, updated_unix, updated_by) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET document = excluded.document, \
                 updated_unix = excluded.updated_unix, updated_by = excluded.updated_by",
            )
            .bind(&text)
            .bind(now_unix)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO audit_log (at_unix, actor, action, target, detail) VALUES ($1, $2, 'north_star.change', 'north_star', $3)",
            )
            .bind(now_unix)
            .bind(actor)
            .bind(format!("{} target {}", north_star.metric.as_str(), north_star.target))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn north_star(
            &self,
        ) -> StoreResult<Option<crate::departments::Stamped<northstar_core::department::NorthStar>>>
        {
            let row: Option<(String, i64, String)> = sqlx::query_as(
                "SELECT document, updated_unix, updated_by FROM north_star WHERE id = 1",
            )
            .fetch_optional(&self.pool)
            .await?;
            row.map(|(text, updated_unix, updated_by)| {
                Ok(crate::departments::Stamped {
                    record: crate::departments::from_document("north_star", &text)?,
                    updated_by,
                    updated_unix,
                })
            })
            .transpose()
        }

        async fn department_data(&self) -> StoreResult<crate::departments::DepartmentData> {
            let mut data = crate::departments::DepartmentData {
                departments: self.departments().await?,
                north_star: self.north_star().await?,
                ..Default::default()
            };
            let values: Vec<(String, String, i64, i64, f64, String, i64)> = sqlx::query_as(
                "SELECT department, measure, period_start, period_end, value, entered_by, entered_unix \
                 FROM kpi_values ORDER BY department, measure, period_start",
            )
            .fetch_all(&self.pool)
            .await?;
            for (department, measure, start, end, value, entered_by, entered_unix) in values {
                data.kpi_values.push((
                    department,
                    measure,
                    crate::departments::KpiPeriodValue {
                        period_start: crate::departments::day_of("kpi_values.period_start", start)?,
                        period_end: crate::departments::day_of("kpi_values.period_end", end)?,
                        value,
                        entered_by,
                        entered_unix,
                    },
                ));
            }
            let wins: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
                "SELECT id, department, document, recorded_by, recorded_unix FROM wins ORDER BY id",
            )
            .fetch_all(&self.pool)
            .await?;
            for (id, department, text, recorded_by, recorded_unix) in wins {
                data.wins.push(crate::departments::Win {
                    id,
                    department,
                    win: crate::departments::from_document("wins", &text)?,
                    recorded_by,
                    recorded_unix,
                });
            }
            let subscriptions: Vec<crate::departments::SubscriptionRow> = sqlx::query_as(
                "SELECT department, email, token, unsubscribed_unix, created_unix FROM digest_subscriptions \
                 ORDER BY department, email",
            )
            .fetch_all(&self.pool)
            .await?;
            data.digest_subscriptions = subscriptions
                .into_iter()
                .map(|(department, email, token, unsubscribed_unix, created_unix)| {
                    crate::departments::DigestSubscription {
                        department,
                        email,
                        token,
                        unsubscribed_unix,
                        created_unix,
                    }
                })
                .collect();
            let sends: Vec<(String, i64, i64, i64)> = sqlx::query_as(
                "SELECT department, week_start, sent_unix, recipients FROM digest_sends ORDER BY department, week_start",
            )
            .fetch_all(&self.pool)
            .await?;
            for (department, week, sent_unix, recipients) in sends {
                data.digest_sends.push(crate::departments::DigestSend {
                    department,
                    week_start: crate::departments::day_of("digest_sends.week_start", week)?,
                    sent_unix,
                    recipients,
                });
            }
            Ok(data)
        }

        async fn put_copied_department_data(
            &self,
            data: &crate::departments::DepartmentData,
        ) -> StoreResult<u64> {
            let mut tx = self.begin_write().await?;
            for d in &data.departments {
                sqlx::query(
                    "INSERT INTO departments (name, document, updated_unix, updated_by) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO UPDATE SET document = excluded.document, \
                     updated_unix = excluded.updated_unix, updated_by = excluded.updated_by",
                )
                .bind(&d.record.name)
                .bind(crate::departments::document(&d.record)?)
                .bind(d.updated_unix)
                .bind(&d.updated_by)
                .execute(&mut *tx)
                .await?;
            }
            for (department, measure, v) in &data.kpi_values {
                sqlx::query(
                    "INSERT INTO kpi_values (department, measure, period_start, period_end, value, entered_by, entered_unix) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (department, measure, period_start) DO UPDATE SET \
                     period_end = excluded.period_end, value = excluded.value, \
                     entered_by = excluded.entered_by, entered_unix = excluded.entered_unix",
                )
                .bind(department)
                .bind(measure)
                .bind(i64::from(v.period_start))
                .bind(i64::from(v.period_end))
                .bind(v.value)
                .bind(&v.entered_by)
                .bind(v.entered_unix)
                .execute(&mut *tx)
                .await?;
            }
            for w in &data.wins {
                sqlx::query(
                    "INSERT INTO wins (id, department, document, recorded_by, recorded_unix) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (id) DO UPDATE SET department = excluded.department, document = excluded.document, \
                     recorded_by = excluded.recorded_by, recorded_unix = excluded.recorded_unix",
                )
                .bind(w.id)
                .bind(&w.department)
                .bind(crate::departments::document(&w.win)?)
                .bind(&w.recorded_by)
                .bind(w.recorded_unix)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query($after_copied_wins).execute(&mut *tx).await?;
            for d in &data.digest_subscriptions {
                sqlx::query(
                    "INSERT INTO digest_subscriptions (department, email, token, unsubscribed_unix, created_unix) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (department, email) DO UPDATE SET \
                     token = excluded.token, unsubscribed_unix = excluded.unsubscribed_unix, \
                     created_unix = excluded.created_unix",
                )
                .bind(&d.department)
                .bind(&d.email)
                .bind(&d.token)
                .bind(d.unsubscribed_unix)
                .bind(d.created_unix)
                .execute(&mut *tx)
                .await?;
            }
            for w in &data.digest_sends {
                sqlx::query(
                    "INSERT INTO digest_sends (department, week_start, sent_unix, recipients) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (department, week_start) DO UPDATE SET sent_unix = excluded.sent_unix, \
                     recipients = excluded.recipients",
                )
                .bind(&w.department)
                .bind(i64::from(w.week_start))
                .bind(w.sent_unix)
                .bind(w.recipients)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(ns) = &data.north_star {
                sqlx::query(
                    "INSERT INTO north_star (id, document, updated_unix, updated_by) VALUES (1, $1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET document = excluded.document, \
                     updated_unix = excluded.updated_unix, updated_by = excluded.updated_by",
                )
                .bind(crate::departments::document(&ns.record)?)
                .bind(ns.updated_unix)
                .bind(&ns.updated_by)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(data.rows())
        }

        async fn customer_lifecycle(
            &self,
        ) -> StoreResult<Vec<(String, northstar_core::lifecycle::LifecycleCount)>> {
            let rows: Vec<(String, Option<i32>, Option<i32>, i64, i64)> = sqlx::query_as(
                "SELECT COALESCE(segment, ''), acquired_on, churned_on, \
                 CASE WHEN churned THEN 1 ELSE 0 END AS churned_flag, COUNT(*) \
                 FROM customers GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            )
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(segment, acquired_on, churned_on, churned, customers)| {
                    (
                        segment,
                        northstar_core::lifecycle::LifecycleCount {
                            acquired_on,
                            churned_on,
                            churned: churned == 1 || churned_on.is_some(),
                            customers: u64::try_from(customers).unwrap_or(0),
                        },
                    )
                })
                .collect())
        }

        async fn kpi_records(
            &self,
            department: &str,
            measure: &str,
            from_unix: i64,
            to_unix: i64,
        ) -> StoreResult<Vec<crate::departments::KpiRecordRow>> {
            use futures_util::TryStreamExt;
            let mut rows = sqlx::query_as::<_, crate::departments::KpiRecordRow>(
                "SELECT occurred_unix, value, target FROM operations WHERE department = $1 AND measure = $2 \
                 AND occurred_unix >= $3 AND occurred_unix < $4",
            )
            .bind(department)
            .bind(measure)
            .bind(from_unix)
            .bind(to_unix)
            .fetch(&self.pool);
            let mut out = Vec::new();
            while let Some(row) = rows.try_next().await? {
                if out.len() == crate::departments::MAX_KPI_RECORDS {
                    return Err(crate::departments::too_many_records());
                }
                out.push(row);
            }
            Ok(out)
        }

        async fn kpi_undated_records(&self, department: &str, measure: &str) -> StoreResult<u64> {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM operations WHERE department = $1 AND measure = $2 AND occurred_unix IS NULL",
            )
            .bind(department)
            .bind(measure)
            .fetch_one(&self.pool)
            .await?;
            Ok(u64::try_from(n).unwrap_or(0))
        }

        async fn ensure_digest_subscriptions(
            &self,
            department: &str,
            emails: &[String],
            now_unix: i64,
        ) -> StoreResult<usize> {
            crate::departments::check_digest_recipients(emails.len())?;
            let mut tx = self.begin_write().await?;
            let active: Vec<String> = sqlx::query_scalar(
                "SELECT email FROM digest_subscriptions WHERE department = $1 AND unsubscribed_unix IS NULL",
            )
            .bind(department)
            .fetch_all(&mut *tx)
            .await?;
            for gone in active.iter().filter(|a| !emails.contains(a)) {
                sqlx::query(
                    "DELETE FROM digest_subscriptions WHERE department = $1 AND email = $2 AND unsubscribed_unix IS NULL",
                )
                .bind(department)
                .bind(gone)
                .execute(&mut *tx)
                .await?;
            }
            let mut added = 0;
            for email in emails {
                let done = sqlx::query(
                    "INSERT INTO digest_subscriptions (department, email, token, unsubscribed_unix, created_unix) \
                     VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (department, email) DO NOTHING",
                )
                .bind(department)
                .bind(email)
                .bind(crate::accounts::new_token())
                .bind(now_unix)
                .execute(&mut *tx)
                .await?;
                added += done.rows_affected() as usize;
            }
            tx.commit().await?;
            Ok(added)
        }

        async fn digest_recipients(
            &self,
            department: &str,
        ) -> StoreResult<Vec<crate::departments::DigestSubscription>> {
            let rows: Vec<crate::departments::SubscriptionRow> = sqlx::query_as(
                "SELECT department, email, token, unsubscribed_unix, created_unix FROM digest_subscriptions \
                 WHERE department = $1 AND unsubscribed_unix IS NULL ORDER BY email LIMIT $2",
            )
            .bind(department)
            .bind(crate::departments::MAX_DIGEST_RECIPIENTS as i64)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(crate::departments::subscription_of).collect())
        }

        async fn digest_subscription(
            &self,
            token: &str,
        ) -> StoreResult<Option<crate::departments::DigestSubscription>> {
            let row: Option<crate::departments::SubscriptionRow> = sqlx::query_as(
                "SELECT department, email, token, unsubscribed_unix, created_unix FROM digest_subscriptions \
                 WHERE token = $1",
            )
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.map(crate::departments::subscription_of))
        }

        async fn unsubscribe_digest(
            &self,
            token: &str,
            now_unix: i64,
        ) -> StoreResult<Option<crate::departments::DigestSubscription>> {
            let row: Option<crate::departments::SubscriptionRow> = sqlx::query_as(
                "UPDATE digest_subscriptions SET unsubscribed_unix = COALESCE(unsubscribed_unix, $2) \
                 WHERE token = $1 \
                 RETURNING department, email, token, unsubscribed_unix, created_unix",
            )
            .bind(token)
            .bind(now_unix)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.map(crate::departments::subscription_of))
        }

        async fn record_digest_send(
            &self,
            department: &str,
            week_start: northstar_core::calendar::Day,
            recipients: i64,
            now_unix: i64,
        ) -> StoreResult<bool> {
            let done = sqlx::query(
                "INSERT INTO digest_sends (department, week_start, sent_unix, recipients) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (department, week_start) DO NOTHING",
            )
            .bind(department)
            .bind(i64::from(week_start))
            .bind(now_unix)
            .bind(recipients)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn release_digest_week(
            &self,
            department: &str,
            week_start: northstar_core::calendar::Day,
        ) -> StoreResult<()> {
            sqlx::query("DELETE FROM digest_sends WHERE department = $1 AND week_start = $2")
                .bind(department)
                .bind(i64::from(week_start))
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn digest_send(
            &self,
            department: &str,
            week_start: northstar_core::calendar::Day,
        ) -> StoreResult<Option<crate::departments::DigestSend>> {
            let row: Option<(String, i64, i64, i64)> = sqlx::query_as(
                "SELECT department, week_start, sent_unix, recipients FROM digest_sends \
                 WHERE department = $1 AND week_start = $2",
            )
            .bind(department)
            .bind(i64::from(week_start))
            .fetch_optional(&self.pool)
            .await?;
            row.map(|(department, week, sent_unix, recipients)| {
                Ok(crate::departments::DigestSend {
                    department,
                    week_start: crate::departments::day_of("digest_sends.week_start", week)?,
                    sent_unix,
                    recipients,
                })
            })
            .transpose()
        }
        }
    };
}

pub(crate) use department_records;
