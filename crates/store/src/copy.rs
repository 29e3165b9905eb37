//! `northstar copy`: everything from one database to another (SQLite to
//! PostgreSQL or back), page by page in key order, through the target's own
//! write path so that its rollups are maintained as on import. Memory holds
//! one page; every page is committed, and writes are idempotent upserts, so
//! a copy that was interrupted is simply run again. It ends by comparing
//! what both databases answer.

use async_trait::async_trait;
use northstar_core::customer::NewCustomer;
use northstar_core::operation::NewOperation;
use northstar_core::response::NewResponse;
use northstar_core::rollup::{CubeQuery, GroupBy};
use northstar_core::{Dimension, Metric};

use crate::backend::OperationKey;
use crate::settings::Setting;
use crate::{Store, StoreResult, WriteSummary};

/// Rows read and written per page.
pub const PAGE_ROWS: u32 = 10_000;

/// A table `copy` carries. Adding a table to the copy is one line in
/// [`copy_all`] once its rows can be read page by page.
#[async_trait]
trait CopiedTable: Sized + Send + Sync + 'static {
    const NAME: &'static str;
    type Key: Send + Sync;
    fn key(&self) -> Self::Key;
    async fn page(store: &dyn Store, after: Option<&Self::Key>) -> StoreResult<Vec<Self>>;
    async fn write(store: &dyn Store, rows: Vec<Self>) -> StoreResult<WriteSummary>;
}

#[async_trait]
impl CopiedTable for NewCustomer {
    const NAME: &'static str = "customers";
    type Key = String;
    fn key(&self) -> String {
        self.customer_id.clone()
    }
    async fn page(store: &dyn Store, after: Option<&String>) -> StoreResult<Vec<Self>> {
        store
            .backend()
            .customers_after(after.map(String::as_str), PAGE_ROWS)
            .await
    }
    async fn write(store: &dyn Store, rows: Vec<Self>) -> StoreResult<WriteSummary> {
        store.write_copied_customers(rows).await
    }
}

#[async_trait]
impl CopiedTable for NewOperation {
    const NAME: &'static str = "operations";
    type Key = OperationKey;
    fn key(&self) -> OperationKey {
        (
            self.department.clone(),
            self.order_id.clone(),
            self.measure.clone(),
        )
    }
    async fn page(store: &dyn Store, after: Option<&OperationKey>) -> StoreResult<Vec<Self>> {
        store.backend().operations_after(after, PAGE_ROWS).await
    }
    async fn write(store: &dyn Store, rows: Vec<Self>) -> StoreResult<WriteSummary> {
        store.write_copied_operations(rows).await
    }
}

#[async_trait]
impl CopiedTable for NewResponse {
    const NAME: &'static str = "responses";
    type Key = String;
    fn key(&self) -> String {
        self.external_id.clone()
    }
    async fn page(store: &dyn Store, after: Option<&String>) -> StoreResult<Vec<Self>> {
        store
            .backend()
            .responses_after(after.map(String::as_str), PAGE_ROWS)
            .await
    }
    async fn write(store: &dyn Store, rows: Vec<Self>) -> StoreResult<WriteSummary> {
        store.write_copied_responses(rows).await
    }
}

/// An account with its password hash, as copied.
struct Account {
    user: crate::accounts::User,
    password_hash: String,
}

#[async_trait]
impl CopiedTable for Account {
    const NAME: &'static str = "users";
    type Key = String;
    fn key(&self) -> String {
        self.user.email.clone()
    }
    async fn page(store: &dyn Store, after: Option<&String>) -> StoreResult<Vec<Self>> {
        // Accounts are few (people, not responses): list, then page.
        let mut page = Vec::new();
        for user in store.backend().users().await? {
            if after.is_some_and(|a| user.email <= *a) {
                continue;
            }
            if page.len() == PAGE_ROWS as usize {
                break;
            }
            if let Some((user, password_hash)) = store.backend().user_with_hash(&user.email).await?
            {
                page.push(Account {
                    user,
                    password_hash,
                });
            }
        }
        Ok(page)
    }
    async fn write(store: &dyn Store, rows: Vec<Self>) -> StoreResult<WriteSummary> {
        let mut written = WriteSummary::default();
        let b = store.backend();
        for a in rows {
            let now = a.user.created_unix;
            let existing = b.user_with_hash(&a.user.email).await?;
            match existing {
                None => {
                    b.insert_user(
                        &crate::accounts::NewUser {
                            email: a.user.email.clone(),
                            role: a.user.role,
                            department: a.user.department.clone(),
                            password_hash: a.password_hash.clone(),
                        },
                        now,
                    )
                    .await?;
                    if a.user.disabled {
                        let change = crate::accounts::UserChange {
                            disabled: Some(true),
                            ..Default::default()
                        };
                        b.update_user(&a.user.email, &change, now).await?;
                    }
                    written.inserted += 1;
                }
                Some((old, hash))
                    if old.role == a.user.role
                        && old.department == a.user.department
                        && old.disabled == a.user.disabled
                        && hash == a.password_hash =>
                {
                    written.unchanged += 1;
                }
                Some(_) => {
                    let change = crate::accounts::UserChange {
                        role: Some((a.user.role, a.user.department.clone())),
                        disabled: Some(a.user.disabled),
                        password_hash: Some(a.password_hash.clone()),
                    };
                    b.update_user(&a.user.email, &change, now).await?;
                    written.replaced += 1;
                }
            }
        }
        Ok(written)
    }
}

/// An API token with the hash of its secret, as copied.
struct TokenRecord {
    token: crate::accounts::ApiToken,
    hash: String,
}

#[async_trait]
impl CopiedTable for TokenRecord {
    const NAME: &'static str = "api_tokens";
    type Key = String;
    fn key(&self) -> String {
        self.token.name.clone()
    }
    async fn page(store: &dyn Store, after: Option<&String>) -> StoreResult<Vec<Self>> {
        // Tokens are few: list, then page.
        Ok(store
            .backend()
            .api_token_hashes()
            .await?
            .into_iter()
            .filter(|(t, _)| after.is_none_or(|a| t.name > *a))
            .take(PAGE_ROWS as usize)
            .map(|(token, hash)| TokenRecord { token, hash })
            .collect())
    }
    async fn write(store: &dyn Store, rows: Vec<Self>) -> StoreResult<WriteSummary> {
        let existing = store.backend().api_token_hashes().await?;
        let mut written = WriteSummary::default();
        for r in rows {
            let same = existing
                .iter()
                .find(|(t, _)| t.name == r.token.name)
                .map(|(t, h)| {
                    (
                        t.role,
                        &t.department,
                        t.created_unix,
                        t.last_used_unix,
                        t.revoked_unix,
                        h,
                    ) == (
                        r.token.role,
                        &r.token.department,
                        r.token.created_unix,
                        r.token.last_used_unix,
                        r.token.revoked_unix,
                        &r.hash,
                    )
                });
            match same {
                Some(true) => written.unchanged += 1,
                Some(false) => written.replaced += 1,
                None => written.inserted += 1,
            }
            if same != Some(true) {
                store.backend().put_api_token(&r.token, &r.hash).await?;
            }
        }
        Ok(written)
    }
}

/// An audit entry with its id, as copied.
struct AuditRecord(i64, crate::accounts::AuditEntry);

#[async_trait]
impl CopiedTable for AuditRecord {
    const NAME: &'static str = "audit_log";
    type Key = i64;
    fn key(&self) -> i64 {
        self.0
    }
    async fn page(store: &dyn Store, after: Option<&i64>) -> StoreResult<Vec<Self>> {
        Ok(store
            .backend()
            .audit_after(after.copied(), PAGE_ROWS)
            .await?
            .into_iter()
            .map(|(id, e)| AuditRecord(id, e))
            .collect())
    }
    async fn write(store: &dyn Store, rows: Vec<Self>) -> StoreResult<WriteSummary> {
        let n = rows.len() as u64;
        let entries: Vec<(i64, crate::accounts::AuditEntry)> =
            rows.into_iter().map(|r| (r.0, r.1)).collect();
        let inserted = store.backend().put_audit_entries(&entries).await?;
        Ok(WriteSummary {
            inserted,
            replaced: 0,
            unchanged: n - inserted,
        })
    }
}

#[async_trait]
impl CopiedTable for Setting {
    const NAME: &'static str = "settings";
    type Key = String;
    fn key(&self) -> String {
        self.key.clone()
    }
    async fn page(store: &dyn Store, after: Option<&String>) -> StoreResult<Vec<Self>> {
        // A handful of rows: read all, then page.
        Ok(store
            .backend()
            .settings()
            .await?
            .into_iter()
            .filter(|s| after.is_none_or(|a| s.key > *a))
            .take(PAGE_ROWS as usize)
            .collect())
    }
    async fn write(store: &dyn Store, rows: Vec<Self>) -> StoreResult<WriteSummary> {
        let existing = store.backend().settings().await?;
        let mut written = WriteSummary::default();
        for row in rows {
            match existing.iter().find(|s| s.key == row.key) {
                Some(s) if *s == row => written.unchanged += 1,
                Some(_) => written.replaced += 1,
                None => written.inserted += 1,
            }
            if !existing.contains(&row) {
                store.backend().put_copied_setting(&row).await?;
            }
        }
        Ok(written)
    }
}

/// What a copy did with one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableCopied {
    pub table: &'static str,
    pub written: WriteSummary,
}

/// Told about progress: rows of `table` copied so far (of about `total`).
pub trait CopyObserver: Send {
    fn progress(&mut self, table: &'static str, copied: u64, total: u64);
}

impl<F: FnMut(&'static str, u64, u64) + Send> CopyObserver for F {
    fn progress(&mut self, table: &'static str, copied: u64, total: u64) {
        self(table, copied, total)
    }
}

async fn copy_table<T: CopiedTable>(
    from: &dyn Store,
    to: &dyn Store,
    total: u64,
    observer: &mut dyn CopyObserver,
) -> StoreResult<TableCopied> {
    let mut copied = TableCopied {
        table: T::NAME,
        ..Default::default()
    };
    let mut after: Option<T::Key> = None;
    loop {
        let page = T::page(from, after.as_ref()).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key());
        copied.written.add(T::write(to, page).await?);
        observer.progress(T::NAME, copied.written.accepted(), total);
    }
    Ok(copied)
}

/// Copies every table (sessions are not copied: everyone signs in again),
/// customers before responses (which refer to them). Responses are written
/// as they are, whatever the target's redaction setting: a copy is exact.
pub async fn copy_all(
    from: &dyn Store,
    to: &dyn Store,
    observer: &mut dyn CopyObserver,
) -> StoreResult<Vec<TableCopied>> {
    let counts = from.counts().await?;
    let users = from.backend().users().await?.len() as u64;
    let tokens = from.backend().api_tokens().await?.len() as u64;
    let settings = from.backend().settings().await?.len() as u64;
    Ok(vec![
        copy_table::<Account>(from, to, users, observer).await?,
        copy_table::<TokenRecord>(from, to, tokens, observer).await?,
        copy_table::<AuditRecord>(from, to, 0, observer).await?,
        // Settings before responses: the time zone decides the day each
        // copied response is filed under (a later change would re-derive
        // them all once more).
        copy_table::<Setting>(from, to, settings, observer).await?,
        copy_department_data(from, to, observer).await?,
        copy_value_data(from, to, observer).await?,
        copy_survey_data(from, to, observer).await?,
        copy_table::<NewCustomer>(from, to, counts.customers, observer).await?,
        copy_table::<NewOperation>(from, to, counts.operations, observer).await?,
        copy_table::<NewResponse>(from, to, counts.responses, observer).await?,
    ])
}

/// Departments, their goals and KPI values, wins and the North Star: a few
/// thousand rows at most, copied in one transaction.
async fn copy_department_data(
    from: &dyn Store,
    to: &dyn Store,
    observer: &mut dyn CopyObserver,
) -> StoreResult<TableCopied> {
    let data = from.backend().department_data().await?;
    let before = to.backend().department_data().await?;
    let written = to.backend().put_copied_department_data(&data).await?;
    observer.progress("departments", written, written);
    let unchanged = if before == data { written } else { 0 };
    Ok(TableCopied {
        table: "departments",
        written: WriteSummary {
            inserted: written - unchanged,
            replaced: 0,
            unchanged,
        },
    })
}

/// Business cases with their versions and reviews, pilots and their
/// assignments, copied in one transaction.
async fn copy_value_data(
    from: &dyn Store,
    to: &dyn Store,
    observer: &mut dyn CopyObserver,
) -> StoreResult<TableCopied> {
    let data = from.backend().value_data().await?;
    let before = to.backend().value_data().await?;
    let written = to.backend().put_copied_value_data(&data).await?;
    observer.progress("value_records", written, written);
    let unchanged = if before == data { written } else { 0 };
    Ok(TableCopied {
        table: "value_records",
        written: WriteSummary {
            inserted: written - unchanged,
            replaced: 0,
            unchanged,
        },
    })
}

/// Surveys with their versions, invitations and opt-outs, copied in one
/// transaction.
async fn copy_survey_data(
    from: &dyn Store,
    to: &dyn Store,
    observer: &mut dyn CopyObserver,
) -> StoreResult<TableCopied> {
    let data = from.backend().survey_data().await?;
    let before = to.backend().survey_data().await?;
    let written = to.backend().put_copied_survey_data(&data).await?;
    observer.progress("survey_records", written, written);
    let unchanged = if before == data { written } else { 0 };
    Ok(TableCopied {
        table: "survey_records",
        written: WriteSummary {
            inserted: written - unchanged,
            replaced: 0,
            unchanged,
        },
    })
}

/// How two databases compare after a copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Questions both were asked (row counts, and metric × grouping).
    pub questions: usize,
    /// Those answered differently, described.
    pub differences: Vec<String>,
}

impl Comparison {
    pub fn identical(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Asks both stores the same questions — each metric overall, by month and
/// by every dimension, and the row counts — and lists what differs.
pub async fn compare(a: &dyn Store, b: &dyn Store) -> StoreResult<Comparison> {
    let mut differences = Vec::new();
    let (ca, cb) = (a.counts().await?, b.counts().await?);
    let mut questions = 3;
    for (what, x, y) in [
        ("responses", ca.responses, cb.responses),
        ("customers", ca.customers, cb.customers),
        ("operations", ca.operations, cb.operations),
    ] {
        if x != y {
            differences.push(format!("{what}: {x} rows in the source, {y} in the target"));
        }
    }
    let accounts = |users: Vec<crate::accounts::User>| -> Vec<_> {
        users
            .into_iter()
            .map(|u| (u.email, u.role, u.department, u.disabled))
            .collect()
    };
    questions += 1;
    if accounts(a.backend().users().await?) != accounts(b.backend().users().await?) {
        differences.push("the accounts (e-mail, role, department, disabled) differ".into());
    }
    let settings = |all: Vec<Setting>| -> Vec<(String, String)> {
        all.into_iter().map(|s| (s.key, s.value)).collect()
    };
    questions += 1;
    if settings(a.backend().settings().await?) != settings(b.backend().settings().await?) {
        differences.push("the settings differ".into());
    }
    questions += 1;
    {
        if a.backend().department_data().await? != b.backend().department_data().await? {
            differences
                .push("the departments, goals, KPI values, wins or North Star differ".into());
        }
    }
    questions += 1;
    if a.backend().value_data().await? != b.backend().value_data().await? {
        differences.push(
            "the business cases, their reviews, the pilots or their assignments differ".into(),
        );
    }
    questions += 1;
    if a.backend().survey_data().await? != b.backend().survey_data().await? {
        differences
            .push("the surveys, their versions, the invitations or the opt-outs differ".into());
    }
    let mut queries = Vec::new();
    let groupings = std::iter::once(None)
        .chain(std::iter::once(Some(GroupBy::Month)))
        .chain(Dimension::ALL.map(|d| Some(GroupBy::Dimension(d))));
    for group_by in groupings {
        queries.push(CubeQuery {
            group_by,
            ..Default::default()
        });
    }
    let (qa, qb) = (
        a.query_rollups_many(&queries).await?,
        b.query_rollups_many(&queries).await?,
    );
    // Every figure (NPS, CSAT, CES, FCR, their intervals and tests) is a
    // function of these summaries: equal summaries, equal figures.
    for ((query, x), y) in queries.iter().zip(&qa).zip(&qb) {
        questions += Metric::ALL.len();
        if x != y {
            let grouping = match query.group_by {
                None => "overall".to_string(),
                Some(GroupBy::Dimension(d)) => format!("by {d}"),
                Some(g) => format!("by {}", g.as_str()),
            };
            differences.push(format!("the figures {grouping} differ"));
        }
    }
    Ok(Comparison {
        questions,
        differences,
    })
}
