//! Proving value (issue 11), stored: business cases, whose versions finance
//! reviews assumption by assumption and approves or returns, and pilots,
//! whose customers are assigned to a pilot or a control group and locked
//! before the pilot starts. Documents are the server's JSON, kept as text
//! (the server owns their types). As in [`crate::departments`], one macro
//! writes both backends' implementations with the same SQL.
//!
//! Text keys (names, customer ids, assumption keys) are ordered in Rust,
//! by their bytes: PostgreSQL's collation may order text differently from
//! SQLite, and a seeded assignment must see customers in one order.

use std::collections::HashSet;

use northstar_core::calendar::Day;

use crate::{StoreError, StoreResult};

/// Most business cases an organisation keeps.
pub const MAX_BUSINESS_CASES: i64 = 500;
/// Most versions one business case keeps.
pub const MAX_CASE_VERSIONS: i64 = 100;
/// Most pilots an organisation keeps.
pub const MAX_PILOTS: i64 = 200;
/// Most customers one pilot assigns (both groups).
pub const MAX_ASSIGNMENTS: usize = 1_000_000;
/// Most responses one read of a pilot's responses returns.
pub const MAX_PILOT_RESPONSES: usize = 5_000_000;
/// Most customers one scope (a respondent selection) yields for assignment.
pub const MAX_SCOPE_CUSTOMERS: usize = 1_000_000;
/// Largest document (a case version, a pilot plan) or comment, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Longest assumption key, in bytes.
pub const MAX_KEY_BYTES: usize = 200;

/// Where a business case version is in finance's review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    AwaitingReview,
    Approved,
    Returned,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::AwaitingReview => "awaiting_review",
            CaseStatus::Approved => "approved",
            CaseStatus::Returned => "returned",
        }
    }

    fn stored(text: &str) -> StoreResult<Self> {
        match text {
            "awaiting_review" => Ok(CaseStatus::AwaitingReview),
            "approved" => Ok(CaseStatus::Approved),
            "returned" => Ok(CaseStatus::Returned),
            other => Err(StoreError::Corrupt(format!(
                "case_versions.status {other:?} is unknown"
            ))),
        }
    }
}

/// Finance's verdict on one assumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accepted,
    Challenged,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Challenged => "challenged",
        }
    }

    fn stored(text: &str) -> StoreResult<Self> {
        match text {
            "accepted" => Ok(Verdict::Accepted),
            "challenged" => Ok(Verdict::Challenged),
            other => Err(StoreError::Corrupt(format!(
                "assumption_reviews.verdict {other:?} is unknown"
            ))),
        }
    }
}

/// The group a pilot assigns a customer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PilotGroup {
    Pilot,
    Control,
}

impl PilotGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            PilotGroup::Pilot => "pilot",
            PilotGroup::Control => "control",
        }
    }

    fn stored(text: &str) -> StoreResult<Self> {
        match text {
            "pilot" => Ok(PilotGroup::Pilot),
            "control" => Ok(PilotGroup::Control),
            other => Err(StoreError::Corrupt(format!(
                "pilot_assignments.pilot_group {other:?} is unknown"
            ))),
        }
    }
}

/// A business case; its content lives in its versions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BusinessCase {
    pub id: i64,
    pub name: String,
    pub department: Option<String>,
    pub pilot_id: Option<i64>,
    pub created_by: String,
    pub created_unix: i64,
}

/// One version of a business case and finance's decision on it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CaseVersion {
    pub case_id: i64,
    pub version: i64,
    pub document: String,
    pub created_by: String,
    pub created_unix: i64,
    pub status: CaseStatus,
    pub decided_by: Option<String>,
    pub decided_unix: Option<i64>,
    pub decision_comment: Option<String>,
}

/// Finance's review of one assumption of a version.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AssumptionReview {
    pub case_id: i64,
    pub version: i64,
    pub key: String,
    pub verdict: Verdict,
    pub comment: String,
    pub reviewer: String,
    pub reviewed_unix: i64,
    /// The version this accepted review was first given on, when it was
    /// carried over to a later version with the assumption unchanged.
    pub carried_from: Option<i64>,
}

/// A pilot: its plan, and once customers are assigned, how; locked before
/// it starts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Pilot {
    pub id: i64,
    pub name: String,
    pub document: String,
    pub created_by: String,
    pub created_unix: i64,
    pub updated_by: String,
    pub updated_unix: i64,
    pub locked_unix: Option<i64>,
    pub locked_by: Option<String>,
    pub assignment_method: Option<String>,
    pub seed: Option<i64>,
    /// When its groups were last given (a pilot whose groups were fixed on
    /// or after its first day is retrospective).
    pub assigned_unix: Option<i64>,
}

/// A customer's group in a pilot, and the stratum it was drawn in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Assignment {
    pub customer_id: String,
    pub group: PilotGroup,
    pub stratum: String,
}

/// A response of a pilot's customer to one metric, on its (local) day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PilotResponse {
    pub customer_id: String,
    pub group: PilotGroup,
    pub day: Day,
    /// The metric's answer (FCR: 1 resolved, 0 not).
    pub value: i64,
}

/// Everything the value records hold, as stored (`copy` carries it whole
/// and compares it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueData {
    /// By id.
    pub business_cases: Vec<BusinessCase>,
    /// By case, version.
    pub case_versions: Vec<CaseVersion>,
    /// By case, version, key.
    pub assumption_reviews: Vec<AssumptionReview>,
    /// By id.
    pub pilots: Vec<Pilot>,
    /// (pilot id, assignment), by pilot, customer.
    pub assignments: Vec<(i64, Assignment)>,
}

impl ValueData {
    /// Rows it holds.
    pub fn rows(&self) -> u64 {
        (self.business_cases.len()
            + self.case_versions.len()
            + self.assumption_reviews.len()
            + self.pilots.len()
            + self.assignments.len()) as u64
    }
}

/// Refuses a document (or comment, `field`) past [`MAX_DOCUMENT_BYTES`].
pub(crate) fn check_size(field: &str, text: &str) -> StoreResult<()> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(StoreError::Limit {
            field: field.into(),
            message: format!(
                "at most {} KiB; this is {} bytes",
                MAX_DOCUMENT_BYTES / 1024,
                text.len()
            ),
        });
    }
    Ok(())
}

pub(crate) fn check_key(key: &str) -> StoreResult<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::Limit {
            field: "key".into(),
            message: format!("an assumption key is at most {MAX_KEY_BYTES} bytes"),
        });
    }
    Ok(())
}

/// Refuses more assignments than a pilot keeps, or a customer twice (the
/// caller dedupes; a second row would silently pick a group).
pub(crate) fn check_assignments(rows: &[Assignment]) -> StoreResult<()> {
    if rows.len() > MAX_ASSIGNMENTS {
        return Err(StoreError::Limit {
            field: "assignments".into(),
            message: format!(
                "a pilot assigns at most {MAX_ASSIGNMENTS} customers; this would make {}",
                rows.len()
            ),
        });
    }
    let mut seen = HashSet::with_capacity(rows.len());
    for a in rows {
        if !seen.insert(a.customer_id.as_str()) {
            return Err(StoreError::Refused(format!(
                "customer {:?} is assigned twice; assign each customer once",
                a.customer_id
            )));
        }
    }
    Ok(())
}

/// Per group: (pilot, control).
pub(crate) fn group_counts(rows: &[Assignment]) -> (usize, usize) {
    let pilot = rows.iter().filter(|a| a.group == PilotGroup::Pilot).count();
    (pilot, rows.len() - pilot)
}

pub(crate) fn not_found_case(id: i64) -> StoreError {
    StoreError::NotFound(format!("business case {id} does not exist"))
}

pub(crate) fn not_found_pilot(id: i64) -> StoreError {
    StoreError::NotFound(format!("pilot {id} does not exist"))
}

/// Refuses a change to a locked pilot's plan or groups.
pub(crate) fn check_unlocked(locked_unix: Option<i64>) -> StoreResult<()> {
    match locked_unix {
        Some(at) => Err(StoreError::Refused(format!(
            "the plan is locked since {}",
            northstar_core::calendar::day_label(northstar_core::calendar::day_of_unix(at))
        ))),
        None => Ok(()),
    }
}

/// Refuses a review or decision (`verb`) of a version that is not the
/// latest or no longer awaits review (`status`, `None` when it does not
/// exist).
pub(crate) fn check_open(
    case_id: i64,
    version: i64,
    latest: i64,
    status: Option<&str>,
    verb: &str,
) -> StoreResult<()> {
    let Some(status) = status else {
        return Err(StoreError::NotFound(format!(
            "business case {case_id} has no version {version}"
        )));
    };
    if version != latest {
        return Err(StoreError::Refused(format!(
            "version {version} is not the latest ({latest}); {verb} the latest"
        )));
    }
    let status = CaseStatus::stored(status)?;
    if status != CaseStatus::AwaitingReview {
        let what = if verb == "review" {
            "reviews are frozen"
        } else {
            "it is decided"
        };
        return Err(StoreError::Refused(format!(
            "version {version} is {}; {what}",
            status.as_str()
        )));
    }
    Ok(())
}

/// Refuses approval unless every required key has an accepted review
/// (`reviews`: key, verdict), naming those challenged and unreviewed.
pub(crate) fn check_all_accepted(
    required_keys: &[String],
    reviews: &[(String, String)],
) -> StoreResult<()> {
    let verdict = |key: &str| reviews.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let mut challenged = Vec::new();
    let mut unreviewed = Vec::new();
    for key in required_keys {
        match verdict(key).map(String::as_str) {
            Some("accepted") => {}
            Some(_) => challenged.push(key.as_str()),
            None => unreviewed.push(key.as_str()),
        }
    }
    challenged.dedup();
    unreviewed.dedup();
    if challenged.is_empty() && unreviewed.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !challenged.is_empty() {
        parts.push(format!("challenged: {}", challenged.join(", ")));
    }
    if !unreviewed.is_empty() {
        parts.push(format!("not reviewed: {}", unreviewed.join(", ")));
    }
    Err(StoreError::Refused(format!(
        "every assumption must be accepted before approval ({})",
        parts.join("; ")
    )))
}

pub(crate) type CaseRow = (i64, String, Option<String>, Option<i64>, String, i64);

pub(crate) fn case_of(
    (id, name, department, pilot_id, created_by, created_unix): CaseRow,
) -> BusinessCase {
    BusinessCase {
        id,
        name,
        department,
        pilot_id,
        created_by,
        created_unix,
    }
}

pub(crate) type VersionRow = (
    i64,
    i64,
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

pub(crate) fn version_of(
    (
        case_id,
        version,
        document,
        created_by,
        created_unix,
        status,
        decided_by,
        decided_unix,
        decision_comment,
    ): VersionRow,
) -> StoreResult<CaseVersion> {
    Ok(CaseVersion {
        case_id,
        version,
        document,
        created_by,
        created_unix,
        status: CaseStatus::stored(&status)?,
        decided_by,
        decided_unix,
        decision_comment,
    })
}

pub(crate) type ReviewRow = (i64, i64, String, String, String, String, i64, Option<i64>);

pub(crate) fn review_of(
    (case_id, version, key, verdict, comment, reviewer, reviewed_unix, carried_from): ReviewRow,
) -> StoreResult<AssumptionReview> {
    Ok(AssumptionReview {
        case_id,
        version,
        key,
        verdict: Verdict::stored(&verdict)?,
        comment,
        reviewer,
        reviewed_unix,
        carried_from,
    })
}

pub(crate) type PilotRow = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

pub(crate) fn pilot_of(
    (
        id,
        name,
        document,
        created_by,
        created_unix,
        updated_by,
        updated_unix,
        locked_unix,
        locked_by,
        assignment_method,
        seed,
        assigned_unix,
    ): PilotRow,
) -> Pilot {
    Pilot {
        id,
        name,
        document,
        created_by,
        created_unix,
        updated_by,
        updated_unix,
        locked_unix,
        locked_by,
        assignment_method,
        seed,
        assigned_unix,
    }
}

/// Whether two lists give every customer the same group (order and strata
/// aside): giving a pilot the groups it has already changes nothing.
pub fn same_groups(a: &[Assignment], b: &[Assignment]) -> bool {
    fn key(v: &[Assignment]) -> Vec<(&str, bool)> {
        let mut k: Vec<(&str, bool)> = v
            .iter()
            .map(|x| (x.customer_id.as_str(), x.group == PilotGroup::Pilot))
            .collect();
        k.sort_unstable();
        k
    }
    a.len() == b.len() && key(a) == key(b)
}

pub(crate) fn assignment_of(
    (customer_id, group, stratum): (String, String, String),
) -> StoreResult<Assignment> {
    Ok(Assignment {
        customer_id,
        group: PilotGroup::stored(&group)?,
        stratum,
    })
}

pub(crate) fn pilot_response_of(
    (customer_id, group, day, value): (String, String, i64, i64),
) -> StoreResult<PilotResponse> {
    Ok(PilotResponse {
        customer_id,
        group: PilotGroup::stored(&group)?,
        day: crate::departments::day_of("responses.day", day)?,
        value,
    })
}

/// The responses column holding a metric's answer, as a BIGINT on both
/// backends (FCR is a boolean on PostgreSQL).
pub(crate) fn metric_value_sql(metric: northstar_core::Metric) -> (&'static str, &'static str) {
    match metric {
        northstar_core::Metric::Nps => ("r.nps", "CAST(r.nps AS BIGINT)"),
        northstar_core::Metric::Csat => ("r.csat", "CAST(r.csat AS BIGINT)"),
        northstar_core::Metric::Ces => ("r.ces", "CAST(r.ces AS BIGINT)"),
        northstar_core::Metric::Fcr => {
            ("r.fcr", "CAST(CASE WHEN r.fcr THEN 1 ELSE 0 END AS BIGINT)")
        }
    }
}

pub(crate) fn too_many(field: &str, what: &str, limit: usize) -> StoreError {
    StoreError::Limit {
        field: field.into(),
        message: format!("more than {limit} {what}; narrow the selection (from, to, filter)"),
    }
}

/// Rows per multi-row INSERT of assignments (4 parameters each, within
/// both backends' parameter limits).
pub(crate) const ASSIGNMENT_ROWS_PER_STATEMENT: usize = 1_000;

/// What a backend stores for proving value (a part of [`crate::Backend`]).
#[async_trait::async_trait]
pub trait ValueRecords: Send + Sync {
    /// Creates a business case with its version 1 (awaiting review);
    /// audited (`business_case.create`). Names are unique (`Refused`).
    #[allow(clippy::too_many_arguments)]
    async fn create_business_case(
        &self,
        name: &str,
        department: Option<&str>,
        pilot_id: Option<i64>,
        document: &str,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<i64>;
    /// Appends the next version (awaiting review), sets the case's
    /// department and pilot, and carries over the accepted reviews of the
    /// keys in `carry_accepted` (assumptions unchanged since the previous
    /// version); audited (`business_case.version`). Returns the version.
    #[allow(clippy::too_many_arguments)]
    async fn add_case_version(
        &self,
        case_id: i64,
        document: &str,
        department: Option<&str>,
        pilot_id: Option<i64>,
        carry_accepted: &[String],
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<i64>;
    /// Every case with its latest version, by name.
    async fn business_cases(&self) -> StoreResult<Vec<(BusinessCase, CaseVersion)>>;
    /// A case with its versions, oldest first.
    async fn business_case(&self, id: i64)
    -> StoreResult<Option<(BusinessCase, Vec<CaseVersion>)>>;
    /// A version's reviews, by key.
    async fn assumption_reviews(
        &self,
        case_id: i64,
        version: i64,
    ) -> StoreResult<Vec<AssumptionReview>>;
    /// Records (or changes) a verdict on an assumption of the latest
    /// version while it awaits review; audited
    /// (`business_case.review_assumption`).
    #[allow(clippy::too_many_arguments)]
    async fn review_assumption(
        &self,
        case_id: i64,
        version: i64,
        key: &str,
        verdict: Verdict,
        comment: &str,
        reviewer: &str,
        now_unix: i64,
    ) -> StoreResult<()>;
    /// Approves or returns the latest version while it awaits review. An
    /// approval needs every key of `required_keys` accepted, and a reviewer
    /// other than the version's author (segregation of duties); audited
    /// (`business_case.approve` / `business_case.return`).
    #[allow(clippy::too_many_arguments)]
    async fn decide_case_version(
        &self,
        case_id: i64,
        version: i64,
        approve: bool,
        required_keys: &[String],
        comment: &str,
        reviewer: &str,
        now_unix: i64,
    ) -> StoreResult<()>;
    /// Creates a pilot with its plan; names are unique; audited
    /// (`pilot.create`).
    async fn create_pilot(
        &self,
        name: &str,
        document: &str,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<i64>;
    /// Replaces a pilot's plan unless it is locked; audited
    /// (`pilot.update`).
    async fn update_pilot(
        &self,
        id: i64,
        document: &str,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<()>;
    /// Every pilot, by id.
    async fn pilots(&self) -> StoreResult<Vec<Pilot>>;
    async fn pilot(&self, id: i64) -> StoreResult<Option<Pilot>>;
    /// Replaces a pilot's assignments wholesale, with how they were drawn,
    /// unless it is locked; audited (`pilot.assign`). Returns the rows.
    #[allow(clippy::too_many_arguments)]
    async fn put_assignments(
        &self,
        pilot_id: i64,
        rows: &[Assignment],
        method: &str,
        seed: Option<i64>,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<u64>;
    /// A pilot's assignments, by customer id.
    async fn assignments(&self, pilot_id: i64) -> StoreResult<Vec<Assignment>>;
    /// Locks a pilot's plan and groups (once: locking again keeps the
    /// first); refused while either group is empty. Audited (`pilot.lock`).
    async fn lock_pilot(&self, pilot_id: i64, actor: &str, now_unix: i64) -> StoreResult<()>;
    /// The answers to `metric` of the pilot's assigned customers within
    /// `query`, by customer id and day (at most
    /// [`MAX_PILOT_RESPONSES`], else `StoreError::Limit`).
    async fn pilot_responses(
        &self,
        pilot_id: i64,
        query: &crate::RespondentQuery,
        metric: northstar_core::Metric,
    ) -> StoreResult<Vec<PilotResponse>>;
    /// The customers who responded within `query` with their segment (''
    /// when unknown), by customer id: the population a pilot assigns from
    /// (at most [`MAX_SCOPE_CUSTOMERS`], else `StoreError::Limit`).
    async fn scope_customers(
        &self,
        query: &crate::RespondentQuery,
    ) -> StoreResult<Vec<(String, String)>>;
    /// Every case, version, review, pilot and assignment, as stored.
    async fn value_data(&self) -> StoreResult<ValueData>;
    /// Writes records read by [`ValueRecords::value_data`] as they are (ids
    /// kept; no audit entries: the audit log is copied itself). Returns the
    /// rows written.
    async fn put_copied_value_data(&self, data: &ValueData) -> StoreResult<u64>;
}

/// Implements [`ValueRecords`] for a store with a `pool`, an inherent
/// `begin_write`, and a `push_selection` for `$db` in the invoking module;
/// `$after_copied` runs after copied rows kept their ids.
macro_rules! value_records {
    ($store:ty, $db:ty, $after_copied:expr) => {
        #[async_trait::async_trait]
        impl crate::value_records::ValueRecords for $store {
            async fn create_business_case(
                &self,
                name: &str,
                department: Option<&str>,
                pilot_id: Option<i64>,
                document: &str,
                actor: &str,
                now_unix: i64,
            ) -> StoreResult<i64> {
                crate::value_records::check_size("document", document)?;
                let mut tx = self.begin_write().await?;
                let taken: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM business_cases WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    return Err(StoreError::Refused(format!(
                        "a business case named {name:?} exists already"
                    )));
                }
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM business_cases")
                    .fetch_one(&mut *tx)
                    .await?;
                if count >= crate::value_records::MAX_BUSINESS_CASES {
                    return Err(StoreError::Limit {
                        field: "name".into(),
                        message: format!(
                            "an organisation keeps at most {} business cases",
                            crate::value_records::MAX_BUSINESS_CASES
                        ),
                    });
                }
                if let Some(pilot) = pilot_id {
                    let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pilots WHERE id = $1")
                        .bind(pilot)
                        .fetch_one(&mut *tx)
                        .await?;
                    if found == 0 {
                        return Err(crate::value_records::not_found_pilot(pilot));
                    }
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO business_cases (name, department, pilot_id, created_by, created_unix) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(name)
                .bind(department)
                .bind(pilot_id)
                .bind(actor)
                .bind(now_unix)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO case_versions (case_id, version, document, created_by, created_unix, status) \
                     VALUES ($1, 1, $2, $3, $4, 'awaiting_review')",
                )
                .bind(id)
                .bind(document)
                .bind(actor)
                .bind(now_unix)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                     VALUES ($1, $2, 'business_case.create', $3, $4)",
                )
                .bind(now_unix)
                .bind(actor)
                .bind(format!("business_case/{id}"))
                .bind(name)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn add_case_version(
                &self,
                case_id: i64,
                document: &str,
                department: Option<&str>,
                pilot_id: Option<i64>,
                carry_accepted: &[String],
                actor: &str,
                now_unix: i64,
            ) -> StoreResult<i64> {
                crate::value_records::check_size("document", document)?;
                let mut tx = self.begin_write().await?;
                // Updating the case row first holds concurrent writers of
                // this case until commit (PostgreSQL row lock).
                let found: Option<i64> =
                    sqlx::query_scalar("UPDATE business_cases SET name = name WHERE id = $1 RETURNING id")
                        .bind(case_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if found.is_none() {
                    return Err(crate::value_records::not_found_case(case_id));
                }
                if let Some(pilot) = pilot_id {
                    let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pilots WHERE id = $1")
                        .bind(pilot)
                        .fetch_one(&mut *tx)
                        .await?;
                    if found == 0 {
                        return Err(crate::value_records::not_found_pilot(pilot));
                    }
                }
                let latest: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM case_versions WHERE case_id = $1")
                        .bind(case_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let latest = latest.unwrap_or(0);
                if latest >= crate::value_records::MAX_CASE_VERSIONS {
                    return Err(StoreError::Limit {
                        field: "document".into(),
                        message: format!(
                            "a business case keeps at most {} versions",
                            crate::value_records::MAX_CASE_VERSIONS
                        ),
                    });
                }
                let version = latest + 1;
                sqlx::query("UPDATE business_cases SET department = $2, pilot_id = $3 WHERE id = $1")
                    .bind(case_id)
                    .bind(department)
                    .bind(pilot_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO case_versions (case_id, version, document, created_by, created_unix, status) \
                     VALUES ($1, $2, $3, $4, $5, 'awaiting_review')",
                )
                .bind(case_id)
                .bind(version)
                .bind(document)
                .bind(actor)
                .bind(now_unix)
                .execute(&mut *tx)
                .await?;
                let accepted: Vec<(String, String, String, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT assumption, comment, reviewer, reviewed_unix, carried_from FROM assumption_reviews \
                     WHERE case_id = $1 AND version = $2 AND verdict = 'accepted'",
                )
                .bind(case_id)
                .bind(latest)
                .fetch_all(&mut *tx)
                .await?;
                let mut carried = 0;
                for (key, comment, reviewer, reviewed_unix, carried_from) in accepted {
                    if !carry_accepted.contains(&key) {
                        continue;
                    }
                    sqlx::query(
                        "INSERT INTO assumption_reviews \
                         (case_id, version, assumption, verdict, comment, reviewer, reviewed_unix, carried_from) \
                         VALUES ($1, $2, $3, 'accepted', $4, $5, $6, $7)",
                    )
                    .bind(case_id)
                    .bind(version)
                    .bind(&key)
                    .bind(&comment)
                    .bind(&reviewer)
                    .bind(reviewed_unix)
                    .bind(carried_from.unwrap_or(latest))
                    .execute(&mut *tx)
                    .await?;
                    carried += 1;
                }
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                     VALUES ($1, $2, 'business_case.version', $3, $4)",
                )
                .bind(now_unix)
                .bind(actor)
                .bind(format!("business_case/{case_id}"))
                .bind(format!("version {version}; {carried} accepted reviews carried"))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(version)
            }

            async fn business_cases(
                &self,
            ) -> StoreResult<
                Vec<(
                    crate::value_records::BusinessCase,
                    crate::value_records::CaseVersion,
                )>,
            > {
                let cases: Vec<crate::value_records::CaseRow> = sqlx::query_as(
                    "SELECT id, name, department, pilot_id, created_by, created_unix FROM business_cases",
                )
                .fetch_all(&self.pool)
                .await?;
                let latest: Vec<crate::value_records::VersionRow> = sqlx::query_as(
                    "SELECT case_id, version, document, created_by, created_unix, status, decided_by, \
                     decided_unix, decision_comment FROM case_versions v \
                     WHERE version = (SELECT MAX(version) FROM case_versions w WHERE w.case_id = v.case_id)",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut latest: std::collections::HashMap<i64, crate::value_records::CaseVersion> =
                    latest
                        .into_iter()
                        .map(|row| {
                            let v = crate::value_records::version_of(row)?;
                            Ok((v.case_id, v))
                        })
                        .collect::<StoreResult<_>>()?;
                let mut out = cases
                    .into_iter()
                    .map(|row| {
                        let case = crate::value_records::case_of(row);
                        let version = latest.remove(&case.id).ok_or_else(|| {
                            StoreError::Corrupt(format!("business case {} has no version", case.id))
                        })?;
                        Ok((case, version))
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
                Ok(out)
            }

            async fn business_case(
                &self,
                id: i64,
            ) -> StoreResult<
                Option<(
                    crate::value_records::BusinessCase,
                    Vec<crate::value_records::CaseVersion>,
                )>,
            > {
                let case: Option<crate::value_records::CaseRow> = sqlx::query_as(
                    "SELECT id, name, department, pilot_id, created_by, created_unix FROM business_cases \
                     WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                let Some(case) = case else { return Ok(None) };
                let versions: Vec<crate::value_records::VersionRow> = sqlx::query_as(
                    "SELECT case_id, version, document, created_by, created_unix, status, decided_by, \
                     decided_unix, decision_comment FROM case_versions WHERE case_id = $1 ORDER BY version",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                let versions = versions
                    .into_iter()
                    .map(crate::value_records::version_of)
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(Some((crate::value_records::case_of(case), versions)))
            }

            async fn assumption_reviews(
                &self,
                case_id: i64,
                version: i64,
            ) -> StoreResult<Vec<crate::value_records::AssumptionReview>> {
                let rows: Vec<crate::value_records::ReviewRow> = sqlx::query_as(
                    "SELECT case_id, version, assumption, verdict, comment, reviewer, reviewed_unix, carried_from \
                     FROM assumption_reviews WHERE case_id = $1 AND version = $2",
                )
                .bind(case_id)
                .bind(version)
                .fetch_all(&self.pool)
                .await?;
                let mut out = rows
                    .into_iter()
                    .map(crate::value_records::review_of)
                    .collect::<StoreResult<Vec<_>>>()?;
                out.sort_by(|a, b| a.key.cmp(&b.key));
                Ok(out)
            }

            async fn review_assumption(
                &self,
                case_id: i64,
                version: i64,
                key: &str,
                verdict: crate::value_records::Verdict,
                comment: &str,
                reviewer: &str,
                now_unix: i64,
            ) -> StoreResult<()> {
                crate::value_records::check_key(key)?;
                crate::value_records::check_size("comment", comment)?;
                let mut tx = self.begin_write().await?;
                let found: Option<i64> =
                    sqlx::query_scalar("UPDATE business_cases SET name = name WHERE id = $1 RETURNING id")
                        .bind(case_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if found.is_none() {
                    return Err(crate::value_records::not_found_case(case_id));
                }
                let latest: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM case_versions WHERE case_id = $1")
                        .bind(case_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let status: Option<String> = sqlx::query_scalar(
                    "SELECT status FROM case_versions WHERE case_id = $1 AND version = $2",
                )
                .bind(case_id)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
                crate::value_records::check_open(
                    case_id,
                    version,
                    latest.unwrap_or(0),
                    status.as_deref(),
                    "review",
                )?;
                sqlx::query(
                    "INSERT INTO assumption_reviews \
                     (case_id, version, assumption, verdict, comment, reviewer, reviewed_unix, carried_from) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) \
                     ON CONFLICT (case_id, version, assumption) DO UPDATE SET verdict = excluded.verdict, \
                     comment = excluded.comment, reviewer = excluded.reviewer, \
                     reviewed_unix = excluded.reviewed_unix, carried_from = NULL",
                )
                .bind(case_id)
                .bind(version)
                .bind(key)
                .bind(verdict.as_str())
                .bind(comment)
                .bind(reviewer)
                .bind(now_unix)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                     VALUES ($1, $2, 'business_case.review_assumption', $3, $4)",
                )
                .bind(now_unix)
                .bind(reviewer)
                .bind(format!("business_case/{case_id}"))
                .bind(format!("version {version} {key}: {}", verdict.as_str()))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn decide_case_version(
                &self,
                case_id: i64,
                version: i64,
                approve: bool,
                required_keys: &[String],
                comment: &str,
                reviewer: &str,
                now_unix: i64,
            ) -> StoreResult<()> {
                crate::value_records::check_size("comment", comment)?;
                let mut tx = self.begin_write().await?;
                let found: Option<i64> =
                    sqlx::query_scalar("UPDATE business_cases SET name = name WHERE id = $1 RETURNING id")
                        .bind(case_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if found.is_none() {
                    return Err(crate::value_records::not_found_case(case_id));
                }
                let latest: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM case_versions WHERE case_id = $1")
                        .bind(case_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let row: Option<(String, String)> = sqlx::query_as(
                    "SELECT status, created_by FROM case_versions WHERE case_id = $1 AND version = $2",
                )
                .bind(case_id)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
                crate::value_records::check_open(
                    case_id,
                    version,
                    latest.unwrap_or(0),
                    row.as_ref().map(|(s, _)| s.as_str()),
                    "decide",
                )?;
                if approve {
                    if row.as_ref().is_some_and(|(_, author)| author == reviewer) {
                        return Err(StoreError::Refused(format!(
                            "segregation of duties: {reviewer} created version {version} and may not approve it"
                        )));
                    }
                    let reviews: Vec<(String, String)> = sqlx::query_as(
                        "SELECT assumption, verdict FROM assumption_reviews WHERE case_id = $1 AND version = $2",
                    )
                    .bind(case_id)
                    .bind(version)
                    .fetch_all(&mut *tx)
                    .await?;
                    crate::value_records::check_all_accepted(required_keys, &reviews)?;
                }
                let status = if approve {
                    crate::value_records::CaseStatus::Approved
                } else {
                    crate::value_records::CaseStatus::Returned
                };
                sqlx::query(
                    "UPDATE case_versions SET status = $3, decided_by = $4, decided_unix = $5, \
                     decision_comment = $6 WHERE case_id = $1 AND version = $2",
                )
                .bind(case_id)
                .bind(version)
                .bind(status.as_str())
                .bind(reviewer)
                .bind(now_unix)
                .bind(comment)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(now_unix)
                .bind(reviewer)
                .bind(if approve { "business_case.approve" } else { "business_case.return" })
                .bind(format!("business_case/{case_id}"))
                .bind(format!("version {version}"))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_pilot(
                &self,
                name: &str,
                document: &str,
                actor: &str,
                now_unix: i64,
            ) -> StoreResult<i64> {
                crate::value_records::check_size("document", document)?;
                let mut tx = self.begin_write().await?;
                let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM pilots WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Err(StoreError::Refused(format!(
                        "a pilot named {name:?} exists already"
                    )));
                }
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pilots")
                    .fetch_one(&mut *tx)
                    .await?;
                if count >= crate::value_records::MAX_PILOTS {
                    return Err(StoreError::Limit {
                        field: "name".into(),
                        message: format!(
                            "an organisation keeps at most {} pilots",
                            crate::value_records::MAX_PILOTS
                        ),
                    });
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO pilots (name, document, created_by, created_unix, updated_by, updated_unix) \
                     VALUES ($1, $2, $3, $4, $3, $4) RETURNING id",
                )
                .bind(name)
                .bind(document)
                .bind(actor)
                .bind(now_unix)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                     VALUES ($1, $2, 'pilot.create', $3, $4)",
                )
                .bind(now_unix)
                .bind(actor)
                .bind(format!("pilot/{id}"))
                .bind(name)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn update_pilot(
                &self,
                id: i64,
                document: &str,
                actor: &str,
                now_unix: i64,
            ) -> StoreResult<()> {
                crate::value_records::check_size("document", document)?;
                let mut tx = self.begin_write().await?;
                let locked: Option<Option<i64>> = sqlx::query_scalar(
                    "UPDATE pilots SET name = name WHERE id = $1 RETURNING locked_unix",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(locked) = locked else {
                    return Err(crate::value_records::not_found_pilot(id));
                };
                crate::value_records::check_unlocked(locked)?;
                sqlx::query(
                    "UPDATE pilots SET document = $2, updated_by = $3, updated_unix = $4 WHERE id = $1",
                )
                .bind(id)
                .bind(document)
                .bind(actor)
                .bind(now_unix)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                     VALUES ($1, $2, 'pilot.update', $3, $4)",
                )
                .bind(now_unix)
                .bind(actor)
                .bind(format!("pilot/{id}"))
                .bind(format!("{} bytes", document.len()))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn pilots(&self) -> StoreResult<Vec<crate::value_records::Pilot>> {
                let rows: Vec<crate::value_records::PilotRow> = sqlx::query_as(
                    "SELECT id, name, document, created_by, created_unix, updated_by, updated_unix, \
                     locked_unix, locked_by, assignment_method, seed, assigned_unix FROM pilots ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(crate::value_records::pilot_of).collect())
            }

            async fn pilot(&self, id: i64) -> StoreResult<Option<crate::value_records::Pilot>> {
                let row: Option<crate::value_records::PilotRow> = sqlx::query_as(
                    "SELECT id, name, document, created_by, created_unix, updated_by, updated_unix, \
                     locked_unix, locked_by, assignment_method, seed, assigned_unix FROM pilots WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(crate::value_records::pilot_of))
            }

            async fn put_assignments(
                &self,
                pilot_id: i64,
                rows: &[crate::value_records::Assignment],
                method: &str,
                seed: Option<i64>,
                actor: &str,
                now_unix: i64,
            ) -> StoreResult<u64> {
                crate::value_records::check_assignments(rows)?;
                let mut tx = self.begin_write().await?;
                let locked: Option<Option<i64>> = sqlx::query_scalar(
                    "UPDATE pilots SET name = name WHERE id = $1 RETURNING locked_unix",
                )
                .bind(pilot_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(locked) = locked else {
                    return Err(crate::value_records::not_found_pilot(pilot_id));
                };
                crate::value_records::check_unlocked(locked)?;
                sqlx::query("DELETE FROM pilot_assignments WHERE pilot_id = $1")
                    .bind(pilot_id)
                    .execute(&mut *tx)
                    .await?;
                for chunk in rows.chunks(crate::value_records::ASSIGNMENT_ROWS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO pilot_assignments (pilot_id, customer_id, pilot_group, stratum) ",
                    );
                    qb.push_values(chunk, |mut b, a| {
                        b.push_bind(pilot_id)
                            .push_bind(a.customer_id.clone())
                            .push_bind(a.group.as_str())
                            .push_bind(a.stratum.clone());
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                sqlx::query(
                    "UPDATE pilots SET assignment_method = $2, seed = $3, assigned_unix = $4 WHERE id = $1",
                )
                .bind(pilot_id)
                .bind(method)
                .bind(seed)
                .bind(now_unix)
                .execute(&mut *tx)
                .await?;
                let (pilot, control) = crate::value_records::group_counts(rows);
                let seed = seed.map_or_else(|| "no seed".to_string(), |s| format!("seed {s}"));
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                     VALUES ($1, $2, 'pilot.assign', $3, $4)",
                )
                .bind(now_unix)
                .bind(actor)
                .bind(format!("pilot/{pilot_id}"))
                .bind(format!("{pilot} pilot, {control} control ({method}, {seed})"))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows.len() as u64)
            }

            async fn assignments(
                &self,
                pilot_id: i64,
            ) -> StoreResult<Vec<crate::value_records::Assignment>> {
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT customer_id, pilot_group, stratum FROM pilot_assignments WHERE pilot_id = $1",
                )
                .bind(pilot_id)
                .fetch_all(&self.pool)
                .await?;
                let mut out = rows
                    .into_iter()
                    .map(crate::value_records::assignment_of)
                    .collect::<StoreResult<Vec<_>>>()?;
                out.sort_unstable_by(|a, b| a.customer_id.cmp(&b.customer_id));
                Ok(out)
            }

            async fn lock_pilot(&self, pilot_id: i64, actor: &str, now_unix: i64) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let locked: Option<Option<i64>> = sqlx::query_scalar(
                    "UPDATE pilots SET name = name WHERE id = $1 RETURNING locked_unix",
                )
                .bind(pilot_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(locked) = locked else {
                    return Err(crate::value_records::not_found_pilot(pilot_id));
                };
                if locked.is_some() {
                    return Ok(());
                }
                let groups: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT pilot_group, COUNT(*) FROM pilot_assignments WHERE pilot_id = $1 GROUP BY pilot_group",
                )
                .bind(pilot_id)
                .fetch_all(&mut *tx)
                .await?;
                let count = |group: crate::value_records::PilotGroup| {
                    groups
                        .iter()
                        .find(|(g, _)| g == group.as_str())
                        .map_or(0, |(_, n)| *n)
                };
                let pilot = count(crate::value_records::PilotGroup::Pilot);
                let control = count(crate::value_records::PilotGroup::Control);
                if pilot == 0 || control == 0 {
                    return Err(StoreError::Refused(format!(
                        "a pilot is locked with customers in both groups; it has {pilot} in the pilot group \
                         and {control} in the control group: assign customers first"
                    )));
                }
                sqlx::query("UPDATE pilots SET locked_unix = $2, locked_by = $3 WHERE id = $1")
                    .bind(pilot_id)
                    .bind(now_unix)
                    .bind(actor)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                     VALUES ($1, $2, 'pilot.lock', $3, $4)",
                )
                .bind(now_unix)
                .bind(actor)
                .bind(format!("pilot/{pilot_id}"))
                .bind(format!("{pilot} pilot, {control} control"))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn pilot_responses(
                &self,
                pilot_id: i64,
                query: &crate::RespondentQuery,
                metric: northstar_core::Metric,
            ) -> StoreResult<Vec<crate::value_records::PilotResponse>> {
                let (column, value) = crate::value_records::metric_value_sql(metric);
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT a.customer_id, a.pilot_group, CAST(r.day AS BIGINT), {value} \
                     FROM pilot_assignments a JOIN responses r ON r.customer_id = a.customer_id \
                     WHERE {column} IS NOT NULL AND a.pilot_id = "
                ));
                qb.push_bind(pilot_id);
                push_selection(&mut qb, query, "r.");
                qb.push(" ORDER BY a.customer_id, r.day, r.submitted_unix, r.external_id LIMIT ")
                    .push_bind(crate::value_records::MAX_PILOT_RESPONSES as i64 + 1);
                let rows: Vec<(String, String, i64, i64)> =
                    qb.build_query_as().fetch_all(&self.pool).await?;
                if rows.len() > crate::value_records::MAX_PILOT_RESPONSES {
                    return Err(crate::value_records::too_many(
                        "from",
                        "responses of the pilot's customers",
                        crate::value_records::MAX_PILOT_RESPONSES,
                    ));
                }
                let mut out = rows
                    .into_iter()
                    .map(crate::value_records::pilot_response_of)
                    .collect::<StoreResult<Vec<_>>>()?;
                // Stable: keeps the SQL order within a customer's day.
                out.sort_by(|a, b| (&a.customer_id, a.day).cmp(&(&b.customer_id, b.day)));
                Ok(out)
            }

            async fn scope_customers(
                &self,
                query: &crate::RespondentQuery,
            ) -> StoreResult<Vec<(String, String)>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT DISTINCT r.customer_id, COALESCE(c.segment, '') FROM responses r \
                     LEFT JOIN customers c ON c.customer_id = r.customer_id \
                     WHERE r.customer_id IS NOT NULL",
                );
                push_selection(&mut qb, query, "r.");
                qb.push(" LIMIT ")
                    .push_bind(crate::value_records::MAX_SCOPE_CUSTOMERS as i64 + 1);
                let mut rows: Vec<(String, String)> =
                    qb.build_query_as().fetch_all(&self.pool).await?;
                if rows.len() > crate::value_records::MAX_SCOPE_CUSTOMERS {
                    return Err(crate::value_records::too_many(
                        "filter",
                        "customers in the scope",
                        crate::value_records::MAX_SCOPE_CUSTOMERS,
                    ));
                }
                rows.sort_unstable();
                Ok(rows)
            }

            async fn value_data(&self) -> StoreResult<crate::value_records::ValueData> {
                let cases: Vec<crate::value_records::CaseRow> = sqlx::query_as(
                    "SELECT id, name, department, pilot_id, created_by, created_unix FROM business_cases \
                     ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?;
                let versions: Vec<crate::value_records::VersionRow> = sqlx::query_as(
                    "SELECT case_id, version, document, created_by, created_unix, status, decided_by, \
                     decided_unix, decision_comment FROM case_versions ORDER BY case_id, version",
                )
                .fetch_all(&self.pool)
                .await?;
                let reviews: Vec<crate::value_records::ReviewRow> = sqlx::query_as(
                    "SELECT case_id, version, assumption, verdict, comment, reviewer, reviewed_unix, carried_from \
                     FROM assumption_reviews",
                )
                .fetch_all(&self.pool)
                .await?;
                let assignments: Vec<(i64, String, String, String)> = sqlx::query_as(
                    "SELECT pilot_id, customer_id, pilot_group, stratum FROM pilot_assignments",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut data = crate::value_records::ValueData {
                    business_cases: cases.into_iter().map(crate::value_records::case_of).collect(),
                    case_versions: versions
                        .into_iter()
                        .map(crate::value_records::version_of)
                        .collect::<StoreResult<_>>()?,
                    assumption_reviews: reviews
                        .into_iter()
                        .map(crate::value_records::review_of)
                        .collect::<StoreResult<_>>()?,
                    pilots: self.pilots().await?,
                    assignments: assignments
                        .into_iter()
                        .map(|(pilot, customer_id, group, stratum)| {
                            Ok((
                                pilot,
                                crate::value_records::assignment_of((customer_id, group, stratum))?,
                            ))
                        })
                        .collect::<StoreResult<_>>()?,
                };
                data.assumption_reviews
                    .sort_by(|a, b| (a.case_id, a.version, &a.key).cmp(&(b.case_id, b.version, &b.key)));
                data.assignments
                    .sort_unstable_by(|a, b| (a.0, &a.1.customer_id).cmp(&(b.0, &b.1.customer_id)));
                Ok(data)
            }

            async fn put_copied_value_data(
                &self,
                data: &crate::value_records::ValueData,
            ) -> StoreResult<u64> {
                let mut tx = self.begin_write().await?;
                for p in &data.pilots {
                    sqlx::query(
                        "INSERT INTO pilots (id, name, document, created_by, created_unix, updated_by, \
                         updated_unix, locked_unix, locked_by, assignment_method, seed, assigned_unix) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO UPDATE SET \
                         name = excluded.name, document = excluded.document, created_by = excluded.created_by, \
                         created_unix = excluded.created_unix, updated_by = excluded.updated_by, \
                         updated_unix = excluded.updated_unix, locked_unix = excluded.locked_unix, \
                         locked_by = excluded.locked_by, assignment_method = excluded.assignment_method, \
                         seed = excluded.seed, assigned_unix = excluded.assigned_unix",
                    )
                    .bind(p.id)
                    .bind(&p.name)
                    .bind(&p.document)
                    .bind(&p.created_by)
                    .bind(p.created_unix)
                    .bind(&p.updated_by)
                    .bind(p.updated_unix)
                    .bind(p.locked_unix)
                    .bind(&p.locked_by)
                    .bind(&p.assignment_method)
                    .bind(p.seed)
                    .bind(p.assigned_unix)
                    .execute(&mut *tx)
                    .await?;
                }
                for c in &data.business_cases {
                    sqlx::query(
                        "INSERT INTO business_cases (id, name, department, pilot_id, created_by, created_unix) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                         department = excluded.department, pilot_id = excluded.pilot_id, \
                         created_by = excluded.created_by, created_unix = excluded.created_unix",
                    )
                    .bind(c.id)
                    .bind(&c.name)
                    .bind(&c.department)
                    .bind(c.pilot_id)
                    .bind(&c.created_by)
                    .bind(c.created_unix)
                    .execute(&mut *tx)
                    .await?;
                }
                for v in &data.case_versions {
                    sqlx::query(
                        "INSERT INTO case_versions (case_id, version, document, created_by, created_unix, status, \
                         decided_by, decided_unix, decision_comment) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (case_id, version) DO UPDATE SET document = excluded.document, \
                         created_by = excluded.created_by, created_unix = excluded.created_unix, \
                         status = excluded.status, decided_by = excluded.decided_by, \
                         decided_unix = excluded.decided_unix, decision_comment = excluded.decision_comment",
                    )
                    .bind(v.case_id)
                    .bind(v.version)
                    .bind(&v.document)
                    .bind(&v.created_by)
                    .bind(v.created_unix)
                    .bind(v.status.as_str())
                    .bind(&v.decided_by)
                    .bind(v.decided_unix)
                    .bind(&v.decision_comment)
                    .execute(&mut *tx)
                    .await?;
                }
                for r in &data.assumption_reviews {
                    sqlx::query(
                        "INSERT INTO assumption_reviews \
                         (case_id, version, assumption, verdict, comment, reviewer, reviewed_unix, carried_from) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (case_id, version, assumption) DO UPDATE SET verdict = excluded.verdict, \
                         comment = excluded.comment, reviewer = excluded.reviewer, \
                         reviewed_unix = excluded.reviewed_unix, carried_from = excluded.carried_from",
                    )
                    .bind(r.case_id)
                    .bind(r.version)
                    .bind(&r.key)
                    .bind(r.verdict.as_str())
                    .bind(&r.comment)
                    .bind(&r.reviewer)
                    .bind(r.reviewed_unix)
                    .bind(r.carried_from)
                    .execute(&mut *tx)
                    .await?;
                }
                for chunk in data
                    .assignments
                    .chunks(crate::value_records::ASSIGNMENT_ROWS_PER_STATEMENT)
                {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO pilot_assignments (pilot_id, customer_id, pilot_group, stratum) ",
                    );
                    qb.push_values(chunk, |mut b, (pilot, a)| {
                        b.push_bind(*pilot)
                            .push_bind(a.customer_id.clone())
                            .push_bind(a.group.as_str())
                            .push_bind(a.stratum.clone());
                    });
                    qb.push(
                        " ON CONFLICT (pilot_id, customer_id) DO UPDATE SET \
                         pilot_group = excluded.pilot_group, stratum = excluded.stratum",
                    );
                    qb.build().execute(&mut *tx).await?;
                }
                sqlx::query($after_copied).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(data.rows())
            }
        }
    };
}

pub(crate) use value_records;
