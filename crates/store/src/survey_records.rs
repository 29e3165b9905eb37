//! Collecting feedback (issue 12), stored: survey programs with their
//! versions, invitations with one-time links, and opt-outs. Documents are
//! the server's JSON (`core::survey::SurveyDefinition`), kept as text. As in
//! [`crate::value_records`], one macro writes both backends'
//! implementations with the same SQL.
//!
//! An invitation's link token is never stored: the server derives it from
//! the invitation's `response_id` under a secret of the database (so a
//! reminder can carry the same link) and the store keeps its SHA-256
//! (`token_hash`), which is what a link is looked up by. The answer to an
//! invitation is the response whose `external_id` is the invitation's
//! `response_id`: answering twice replaces it, and "answered" is a join,
//! never a second write that could disagree with the responses.

use crate::{StoreError, StoreResult};

/// Most surveys an organisation keeps.
pub const MAX_SURVEYS: i64 = 1_000;
/// Most versions one survey keeps.
pub const MAX_SURVEY_VERSIONS: i64 = 500;
/// Most invitations one call creates.
pub const MAX_INVITATIONS_PER_CALL: usize = 100_000;
/// Most invitations one survey keeps.
pub const MAX_INVITATIONS_PER_SURVEY: i64 = 2_000_000;
/// Largest survey document, in bytes.
pub const MAX_SURVEY_DOCUMENT_BYTES: usize = 512 * 1024;
/// Longest e-mail address, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Most rows one page of invitations returns.
pub const MAX_INVITATION_PAGE: usize = 10_000;

/// Where a survey is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyStatus {
    /// Being designed: edits replace the current version, no link answers.
    Draft,
    /// Answering: an edit makes a new version.
    Live,
    /// No more answers; links show that it closed.
    Closed,
}

impl SurveyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyStatus::Draft => "draft",
            SurveyStatus::Live => "live",
            SurveyStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "draft" => Some(SurveyStatus::Draft),
            "live" => Some(SurveyStatus::Live),
            "closed" => Some(SurveyStatus::Closed),
            _ => None,
        }
    }

    pub(crate) fn stored(text: &str) -> StoreResult<Self> {
        Self::parse(text)
            .ok_or_else(|| StoreError::Corrupt(format!("surveys.status {text:?} is unknown")))
    }
}

/// A survey program; its questions live in its versions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Survey {
    pub id: i64,
    /// Unique; the `survey` dimension of its responses.
    pub name: String,
    pub status: SurveyStatus,
    /// The version a new answer gets.
    pub current_version: i64,
    /// The unguessable part of its public URLs (anonymous link, widget).
    pub public_slug: String,
    pub created_by: String,
    pub created_unix: i64,
    pub updated_by: String,
    pub updated_unix: i64,
}

/// One version of a survey's definition.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SurveyVersion {
    pub survey_id: i64,
    pub version: i64,
    pub document: String,
    pub created_by: String,
    pub created_unix: i64,
}

/// An invitation to create (the server computed its `response_id` and the
/// hash of its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    pub customer_id: String,
    /// Lower-cased.
    pub email: String,
    pub language: String,
    /// The customer's segment when invited ('' when unknown).
    pub segment: String,
    /// `email` for now; the response's `channel`.
    pub channel: String,
    /// The external id its answer is stored under.
    pub response_id: String,
    /// Hex SHA-256 of the link token.
    pub token_hash: String,
}

/// An invitation as stored, with what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Invitation {
    pub id: i64,
    pub survey_id: i64,
    pub customer_id: String,
    pub email: String,
    pub language: String,
    pub segment: String,
    pub channel: String,
    pub response_id: String,
    pub created_unix: i64,
    pub expires_unix: i64,
    pub sent_unix: Option<i64>,
    pub reminded_unix: Option<i64>,
    pub reminders: i64,
    pub opened_unix: Option<i64>,
    /// When its response was submitted (joined from `responses`).
    pub answered_unix: Option<i64>,
    /// Whether its address has opted out (joined from `opt_outs`).
    pub opted_out: bool,
}

/// A customer with the address its record names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerContact {
    pub customer_id: String,
    pub email: String,
    pub language: Option<String>,
}

/// The contact in a customer's attributes (a JSON object), if any.
pub(crate) fn contact_of(customer_id: String, attributes: &str) -> Option<CustomerContact> {
    let value: serde_json::Value = serde_json::from_str(attributes).ok()?;
    let object = value.as_object()?;
    // Column names of a customers file keep their case (`Email`).
    let text = |k: &str| {
        object
            .iter()
            .find(|(name, _)| name.trim().eq_ignore_ascii_case(k))
            .and_then(|(_, v)| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Some(CustomerContact {
        customer_id,
        email: text("email")?,
        language: text("language"),
    })
}

/// Ids per `IN (…)` list.
pub(crate) const IDS_PER_STATEMENT: usize = 1_000;

/// What creating invitations did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct InvitationsCreated {
    pub created: u64,
    /// Addresses that opted out: no invitation made.
    pub opted_out: u64,
    /// Customers this survey has invited already: the first invitation
    /// stands.
    pub already_invited: u64,
}

/// Invitations of one (segment, channel) cell.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RateCell {
    pub segment: String,
    pub channel: String,
    pub invited: u64,
    /// Sent (an invitation not sent yet was not asked).
    pub sent: u64,
    pub opened: u64,
    pub answered: u64,
}

/// Everything the survey records hold, as stored (`copy` carries it whole
/// and compares it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SurveyData {
    /// By id.
    pub surveys: Vec<Survey>,
    /// By survey, version.
    pub versions: Vec<SurveyVersion>,
    /// (invitation, token_hash), by id; `answered_unix` and `opted_out`
    /// are not copied (they are joins).
    pub invitations: Vec<(Invitation, String)>,
    /// (hex SHA-256 of the lower-cased address, created_unix), by hash.
    pub opt_outs: Vec<(String, i64)>,
}

impl SurveyData {
    /// Rows it holds.
    pub fn rows(&self) -> u64 {
        (self.surveys.len() + self.versions.len() + self.invitations.len() + self.opt_outs.len())
            as u64
    }
}

/// The hex SHA-256 of an address, lower-cased and trimmed: what an
/// opt-out is kept (and an invitation's address matched) by.
pub fn email_hash(email: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(email.trim().to_lowercase().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Refuses a document past [`MAX_SURVEY_DOCUMENT_BYTES`].
pub(crate) fn check_document(document: &str) -> StoreResult<()> {
    if document.len() > MAX_SURVEY_DOCUMENT_BYTES {
        return Err(StoreError::Limit {
            field: "document".into(),
            message: format!(
                "a survey is at most {} KiB; this is {} bytes",
                MAX_SURVEY_DOCUMENT_BYTES / 1024,
                document.len()
            ),
        });
    }
    Ok(())
}

/// Refuses an address past [`MAX_EMAIL_BYTES`].
pub(crate) fn check_email(email: &str) -> StoreResult<()> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err(StoreError::Limit {
            field: "email".into(),
            message: format!(
                "an e-mail address is at most {MAX_EMAIL_BYTES} bytes; one is {} bytes",
                email.len()
            ),
        });
    }
    Ok(())
}

/// Refuses more invitations in one call than [`MAX_INVITATIONS_PER_CALL`]
/// (or an address too long).
pub(crate) fn check_invitations(rows: &[NewInvitation]) -> StoreResult<()> {
    if rows.len() > MAX_INVITATIONS_PER_CALL {
        return Err(StoreError::Limit {
            field: "invitations".into(),
            message: format!(
                "at most {MAX_INVITATIONS_PER_CALL} invitations at once; this is {}: invite in parts",
                rows.len()
            ),
        });
    }
    rows.iter().try_for_each(|r| check_email(&r.email))
}

/// Refuses more ids in one call than [`MAX_INVITATIONS_PER_CALL`].
pub(crate) fn check_ids(ids: &[i64]) -> StoreResult<()> {
    if ids.len() > MAX_INVITATIONS_PER_CALL {
        return Err(StoreError::Limit {
            field: "ids".into(),
            message: format!(
                "at most {MAX_INVITATIONS_PER_CALL} invitations at once; this is {}",
                ids.len()
            ),
        });
    }
    Ok(())
}

/// Refuses a survey beyond [`MAX_INVITATIONS_PER_SURVEY`] invitations.
pub(crate) fn check_invitation_total(total: i64) -> StoreResult<()> {
    if total > MAX_INVITATIONS_PER_SURVEY {
        return Err(StoreError::Limit {
            field: "invitations".into(),
            message: format!(
                "a survey keeps at most {MAX_INVITATIONS_PER_SURVEY} invitations; this would make {total}"
            ),
        });
    }
    Ok(())
}

pub(crate) fn not_found_survey(id: i64) -> StoreError {
    StoreError::NotFound(format!("survey {id} does not exist"))
}

pub(crate) fn closed(id: i64, verb: &str) -> StoreError {
    StoreError::Refused(format!("survey {id} is closed; reopen it to {verb}"))
}

/// Refuses any move but draft → live, live → closed and closed → live.
pub(crate) fn check_move(id: i64, from: SurveyStatus, to: SurveyStatus) -> StoreResult<()> {
    use SurveyStatus::{Closed, Draft, Live};
    match (from, to) {
        (Draft, Live) | (Live, Closed) | (Closed, Live) => Ok(()),
        _ => Err(StoreError::Refused(format!(
            "survey {id} is {}, which cannot become {}: a draft goes live, a live survey closes \
             and a closed survey reopens (goes live)",
            from.as_str(),
            to.as_str()
        ))),
    }
}

/// A page size within [`MAX_INVITATION_PAGE`], as bound in SQL.
pub(crate) fn page_limit(limit: usize) -> i64 {
    limit.min(MAX_INVITATION_PAGE) as i64
}

/// Rows per multi-row INSERT of invitations (at most 16 parameters each,
/// within both backends' parameter limits), and ids per `IN` list.
pub(crate) const ROWS_PER_STATEMENT: usize = 1_000;

pub(crate) const SURVEY_COLUMNS: &str = "id, name, status, current_version, public_slug, created_by, \
     created_unix, updated_by, updated_unix";

pub(crate) type SurveyRow = (i64, String, String, i64, String, String, i64, String, i64);

pub(crate) fn survey_of(
    (
        id,
        name,
        status,
        current_version,
        public_slug,
        created_by,
        created_unix,
        updated_by,
        updated_unix,
    ): SurveyRow,
) -> StoreResult<Survey> {
    Ok(Survey {
        id,
        name,
        status: SurveyStatus::stored(&status)?,
        current_version,
        public_slug,
        created_by,
        created_unix,
        updated_by,
        updated_unix,
    })
}

pub(crate) type VersionRow = (i64, i64, String, String, i64);

pub(crate) fn version_of(
    (survey_id, version, document, created_by, created_unix): VersionRow,
) -> SurveyVersion {
    SurveyVersion {
        survey_id,
        version,
        document,
        created_by,
        created_unix,
    }
}

/// An invitation with what happened to it: its answer and its address's
/// opt-out are joins.
pub(crate) const INVITATION_SELECT: &str = "SELECT i.id, i.survey_id, i.customer_id, i.email, \
     i.language, i.segment, i.channel, i.response_id, i.created_unix, i.expires_unix, i.sent_unix, \
     i.reminded_unix, i.reminders, i.opened_unix, r.submitted_unix, \
     CAST(CASE WHEN o.email_hash IS NULL THEN 0 ELSE 1 END AS BIGINT) \
     FROM invitations i LEFT JOIN responses r ON r.external_id = i.response_id \
     LEFT JOIN opt_outs o ON o.email_hash = i.email_hash";

pub(crate) type InvitationRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
);

pub(crate) fn invitation_of(
    (
        id,
        survey_id,
        customer_id,
        email,
        language,
        segment,
        channel,
        response_id,
        created_unix,
        expires_unix,
        sent_unix,
        reminded_unix,
        reminders,
        opened_unix,
        answered_unix,
        opted_out,
    ): InvitationRow,
) -> Invitation {
    Invitation {
        id,
        survey_id,
        customer_id,
        email,
        language,
        segment,
        channel,
        response_id,
        created_unix,
        expires_unix,
        sent_unix,
        reminded_unix,
        reminders,
        opened_unix,
        answered_unix,
        opted_out: opted_out != 0,
    }
}

/// An invitation as stored, with the hash of its token (for `copy`).
pub(crate) const COPIED_INVITATION_SELECT: &str = "SELECT id, survey_id, customer_id, email, \
     language, segment, channel, response_id, created_unix, expires_unix, sent_unix, reminded_unix, \
     reminders, opened_unix, token_hash FROM invitations ORDER BY id";

pub(crate) type CopiedInvitationRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
    String,
);

pub(crate) fn copied_invitation_of(
    (
        id,
        survey_id,
        customer_id,
        email,
        language,
        segment,
        channel,
        response_id,
        created_unix,
        expires_unix,
        sent_unix,
        reminded_unix,
        reminders,
        opened_unix,
        token_hash,
    ): CopiedInvitationRow,
) -> (Invitation, String) {
    (
        Invitation {
            id,
            survey_id,
            customer_id,
            email,
            language,
            segment,
            channel,
            response_id,
            created_unix,
            expires_unix,
            sent_unix,
            reminded_unix,
            reminders,
            opened_unix,
            answered_unix: None,
            opted_out: false,
        },
        token_hash,
    )
}

/// What a backend stores for collecting feedback (a part of
/// [`crate::Backend`]).
#[async_trait::async_trait]
pub trait SurveyRecords: Send + Sync {
    /// Creates a draft survey with its version 1; names and slugs are
    /// unique (`Refused`); audited (`survey.create`).
    async fn create_survey(
        &self,
        name: &str,
        public_slug: &str,
        document: &str,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<i64>;
    /// Changes a survey's definition: a draft's current version is
    /// replaced, a live survey gets a new version (which new answers get,
    /// at most [`MAX_SURVEY_VERSIONS`]); a closed survey is refused. The
    /// name is in the document, which the store keeps as it is: the server
    /// refuses a change of name. Audited (`survey.update`). Returns the
    /// current version.
    async fn update_survey(
        &self,
        id: i64,
        document: &str,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<i64>;
    /// Draft → live → closed (and closed → live to reopen); audited
    /// (`survey.status`). Anything else is `Refused`.
    async fn set_survey_status(
        &self,
        id: i64,
        status: SurveyStatus,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<()>;
    /// Every survey, by name.
    async fn surveys(&self) -> StoreResult<Vec<Survey>>;
    async fn survey(&self, id: i64) -> StoreResult<Option<Survey>>;
    async fn survey_by_slug(&self, public_slug: &str) -> StoreResult<Option<Survey>>;
    async fn survey_by_name(&self, name: &str) -> StoreResult<Option<Survey>>;
    /// A survey's versions, oldest first.
    async fn survey_versions(&self, survey_id: i64) -> StoreResult<Vec<SurveyVersion>>;
    async fn survey_version(
        &self,
        survey_id: i64,
        version: i64,
    ) -> StoreResult<Option<SurveyVersion>>;
    /// Creates invitations expiring at `expires_unix`, skipping addresses
    /// that opted out and customers the survey invited already; at most
    /// [`MAX_INVITATIONS_PER_CALL`] rows; audited (`survey.invite`, counts
    /// only). Refused for a closed survey.
    async fn create_invitations(
        &self,
        survey_id: i64,
        rows: &[NewInvitation],
        expires_unix: i64,
        actor: &str,
        now_unix: i64,
    ) -> StoreResult<InvitationsCreated>;
    /// The invitation a link's token hash names.
    async fn invitation_by_token(&self, token_hash: &str) -> StoreResult<Option<Invitation>>;
    /// Records the first opening of an invitation's link (later ones keep
    /// the first time).
    async fn mark_invitation_opened(&self, id: i64, now_unix: i64) -> StoreResult<()>;
    /// Invitations of a survey, by id, after `after_id`, at most `limit`
    /// (≤ [`MAX_INVITATION_PAGE`]).
    async fn invitations(
        &self,
        survey_id: i64,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<Invitation>>;
    /// Not sent yet, not expired at `now_unix`, address not opted out; by
    /// id, at most `limit`.
    async fn invitations_to_send(
        &self,
        survey_id: i64,
        now_unix: i64,
        limit: usize,
    ) -> StoreResult<Vec<Invitation>>;
    /// Sent (or last reminded) at or before `quiet_since_unix`, not
    /// answered, not expired at `now_unix`, fewer than `max_reminders`
    /// reminders, address not opted out; by id, at most `limit`.
    async fn invitations_to_remind(
        &self,
        survey_id: i64,
        quiet_since_unix: i64,
        max_reminders: i64,
        now_unix: i64,
        limit: usize,
    ) -> StoreResult<Vec<Invitation>>;
    /// Records a delivery: the first sets `sent_unix`, each reminder sets
    /// `reminded_unix` and counts.
    async fn mark_invitations_sent(
        &self,
        ids: &[i64],
        reminder: bool,
        now_unix: i64,
    ) -> StoreResult<()>;
    /// Opts an address out of every survey e-mail (idempotent: the first
    /// time stands); audited (`survey.opt_out`, without the address). Only
    /// the SHA-256 of the lower-cased address is kept, so an opt-out
    /// outlives the customer's erasure without keeping the address.
    async fn opt_out(&self, email: &str, now_unix: i64) -> StoreResult<()>;
    /// Whether an address opted out.
    async fn opted_out(&self, email: &str) -> StoreResult<bool>;
    /// A survey's invitations created in `[from_unix, to_unix)` counted by
    /// (segment, channel), ordered by both.
    async fn response_rates(
        &self,
        survey_id: i64,
        from_unix: i64,
        to_unix: i64,
    ) -> StoreResult<Vec<RateCell>>;
    /// The customers of a segment whose record names an e-mail address
    /// (the `email` attribute of a customers file, and `language` when
    /// given), by customer id, at most `limit`.
    async fn customer_contacts(
        &self,
        segment: &str,
        limit: usize,
    ) -> StoreResult<Vec<CustomerContact>>;
    /// The stored segment of each of these customers that has one (ids
    /// without a record or a segment are left out).
    async fn customer_segments_of(&self, ids: &[String]) -> StoreResult<Vec<(String, String)>>;
    /// Every survey, version, invitation and opt-out, as stored.
    async fn survey_data(&self) -> StoreResult<SurveyData>;
    /// Writes records read by [`SurveyRecords::survey_data`] as they are
    /// (ids kept). Returns the rows written.
    async fn put_copied_survey_data(&self, data: &SurveyData) -> StoreResult<u64>;
}

/// Implements [`SurveyRecords`] for a store with a `pool` and an inherent
/// `begin_write`, for `$db`; `$after_copied` runs after copied rows kept
/// their ids.
macro_rules! survey_records {
    ($store:ty, $db:ty, $after_copied:expr) => {
        #[async_trait::async_trait]
        impl crate::survey_records::SurveyRecords for $store {
            async fn create_survey(
                &self,
                name: &str,
                public_slug: &str,
                document: &str,
                actor: &str,
                now_unix: i64,
            ) -> StoreResult<i64> {
                crate::survey_records::check_document(document)?;
                let mut tx = self.begin_write().await?;
                let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM surveys WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Err(StoreError::Refused(format!(
                        "a survey named {name:?} exists already"
                    )));
                }
                let taken: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM surveys WHERE public_slug = $1")
                        .bind(public_slug)
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    return Err(StoreError::Refused(
                        "that public link is taken by another survey; choose another".into(),
                    ));
                }
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM surveys")
                    .fetch_one(&mut *tx)
                    .await?;
                if count >= crate::survey_records::MAX_SURVEYS {
                    return Err(StoreError::Limit {
                        field: "name".into(),
                        message: format!(
                            "an organisation keeps at most {} surveys",
                            crate::survey_records::MAX_SURVEYS
                        ),
                    });
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO surveys (name, status, current_version, public_slug, created_by, \
                     created_unix, updated_by, updated_unix) VALUES ($1, 'draft', 1, $2, $3, $4, $3, $4) \
                     RETURNING id",
                )
                .bind(name)
                .bind(public_slug)
                .bind(actor)
                .bind(now_unix)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO survey_versions (survey_id, version, document, created_by, created_unix) \
                     VALUES ($1, 1, $2, $3, $4)",
                )
                .bind(id)
                .bind(document)
                .bind(actor)
                .bind(now_unix)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                     VALUES ($1, $2, 'survey.create', $3, $4)",
                )
                .bind(now_unix)
                .bind(actor)
                .bind(format!("survey/{id}"))
                .bind(name)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn update_survey(
                &self,
                id: i64,
                document: &str,
                actor: &str,
                now_unix: i64,
            ) -> StoreResult<i64> {
                crate::survey_records::check_document(document)?;
                let mut tx = self.begin_write().await?;
                // Updating the survey row first holds concurrent writers of
                // this survey until commit (PostgreSQL row lock).
                let row: Option<(String, i64)> = sqlx::query_as(
                    "UPDATE surveys SET updated_by = $2, updated_unix = $3 WHERE id = $1 \
                     RETURNING status, current_version",
                )
                .bind(id)
                .bind(actor)
                .bind(now_unix)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((status, current)) = row else {
                    return Err(crate::survey_records::not_found_survey(id));
                };
                let (version, detail) = match crate::survey_records::SurveyStatus::stored(&status)? {
                    crate::survey_records::SurveyStatus::Closed => {
                        return Err(crate::survey_records::closed(id, "change it"));
                    }
                    crate::survey_records::SurveyStatus::Draft => {
                        sqlx::query(
                            "UPDATE survey_versions SET document = $3 WHERE survey_id = $1 AND version = $2",
                        )
                        .bind(id)
                        .bind(current)
                        .bind(document)
                        .execute(&mut *tx)
                        .await?;
                        (current, format!("version {current} replaced (draft)"))
                    }
                    crate::survey_records::SurveyStatus::Live => {
                        if current >= crate::survey_records::MAX_SURVEY_VERSIONS {
                            return Err(StoreError::Limit {
                                field: "document".into(),
                                message: format!(
                                    "a survey keeps at most {} versions",
                                    crate::survey_records::MAX_SURVEY_VERSIONS
                                ),
                            });
                        }
                        let version = current + 1;
                        sqlx::query(
                            "INSERT INTO survey_versions (survey_id, version, document, created_by, created_unix) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(id)
                        .bind(version)
                        .bind(document)
                        .bind(actor)
                        .bind(now_unix)
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query("UPDATE surveys SET current_version = $2 WHERE id = $1")
                            .bind(id)
                            .bind(version)
                            .execute(&mut *tx)
                            .await?;
                        (version, format!("version {version}"))
                    }
                };
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                     VALUES ($1, $2, 'survey.update', $3, $4)",
                )
                .bind(now_unix)
                .bind(actor)
                .bind(format!("survey/{id}"))
                .bind(format!("{detail}, {} bytes", document.len()))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(version)
            }

            async fn set_survey_status(
                &self,
                id: i64,
                status: crate::survey_records::SurveyStatus,
                actor: &str,
                now_unix: i64,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let from: Option<String> =
                    sqlx::query_scalar("UPDATE surveys SET name = name WHERE id = $1 RETURNING status")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(from) = from else {
                    return Err(crate::survey_records::not_found_survey(id));
                };
                let from = crate::survey_records::SurveyStatus::stored(&from)?;
                crate::survey_records::check_move(id, from, status)?;
                sqlx::query(
                    "UPDATE surveys SET status = $2, updated_by = $3, updated_unix = $4 WHERE id = $1",
                )
                .bind(id)
                .bind(status.as_str())
                .bind(actor)
                .bind(now_unix)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                     VALUES ($1, $2, 'survey.status', $3, $4)",
                )
                .bind(now_unix)
                .bind(actor)
                .bind(format!("survey/{id}"))
                .bind(format!("{} → {}", from.as_str(), status.as_str()))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn surveys(&self) -> StoreResult<Vec<crate::survey_records::Survey>> {
                let rows: Vec<crate::survey_records::SurveyRow> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!("SELECT {} FROM surveys", crate::survey_records::SURVEY_COLUMNS),
                ))
                .fetch_all(&self.pool)
                .await?;
                let mut out = rows
                    .into_iter()
                    .map(crate::survey_records::survey_of)
                    .collect::<StoreResult<Vec<_>>>()?;
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            }

            async fn survey(&self, id: i64) -> StoreResult<Option<crate::survey_records::Survey>> {
                let row: Option<crate::survey_records::SurveyRow> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!("SELECT {} FROM surveys WHERE id = $1", crate::survey_records::SURVEY_COLUMNS),
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(crate::survey_records::survey_of).transpose()
            }

            async fn survey_by_slug(
                &self,
                public_slug: &str,
            ) -> StoreResult<Option<crate::survey_records::Survey>> {
                let row: Option<crate::survey_records::SurveyRow> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!(
                        "SELECT {} FROM surveys WHERE public_slug = $1",
                        crate::survey_records::SURVEY_COLUMNS
                    ),
                ))
                .bind(public_slug)
                .fetch_optional(&self.pool)
                .await?;
                row.map(crate::survey_records::survey_of).transpose()
            }

            async fn survey_by_name(
                &self,
                name: &str,
            ) -> StoreResult<Option<crate::survey_records::Survey>> {
                let row: Option<crate::survey_records::SurveyRow> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!("SELECT {} FROM surveys WHERE name = $1", crate::survey_records::SURVEY_COLUMNS),
                ))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                row.map(crate::survey_records::survey_of).transpose()
            }

            async fn survey_versions(
                &self,
                survey_id: i64,
            ) -> StoreResult<Vec<crate::survey_records::SurveyVersion>> {
                let rows: Vec<crate::survey_records::VersionRow> = sqlx::query_as(
                    "SELECT survey_id, version, document, created_by, created_unix FROM survey_versions \
                     WHERE survey_id = $1 ORDER BY version",
                )
                .bind(survey_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(crate::survey_records::version_of).collect())
            }

            async fn survey_version(
                &self,
                survey_id: i64,
                version: i64,
            ) -> StoreResult<Option<crate::survey_records::SurveyVersion>> {
                let row: Option<crate::survey_records::VersionRow> = sqlx::query_as(
                    "SELECT survey_id, version, document, created_by, created_unix FROM survey_versions \
                     WHERE survey_id = $1 AND version = $2",
                )
                .bind(survey_id)
                .bind(version)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(crate::survey_records::version_of))
            }

            async fn create_invitations(
                &self,
                survey_id: i64,
                rows: &[crate::survey_records::NewInvitation],
                expires_unix: i64,
                actor: &str,
                now_unix: i64,
            ) -> StoreResult<crate::survey_records::InvitationsCreated> {
                crate::survey_records::check_invitations(rows)?;
                let hashed: Vec<(&crate::survey_records::NewInvitation, String)> = rows
                    .iter()
                    .map(|r| (r, crate::survey_records::email_hash(&r.email)))
                    .collect();
                let mut tx = self.begin_write().await?;
                // Holds concurrent writers of this survey until commit
                // (PostgreSQL row lock): the count below stays exact.
                let status: Option<String> =
                    sqlx::query_scalar("UPDATE surveys SET name = name WHERE id = $1 RETURNING status")
                        .bind(survey_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(status) = status else {
                    return Err(crate::survey_records::not_found_survey(survey_id));
                };
                if crate::survey_records::SurveyStatus::stored(&status)?
                    == crate::survey_records::SurveyStatus::Closed
                {
                    return Err(crate::survey_records::closed(survey_id, "invite"));
                }
                let mut hashes: Vec<&str> = hashed.iter().map(|(_, h)| h.as_str()).collect();
                hashes.sort_unstable();
                hashes.dedup();
                let mut opted = std::collections::HashSet::new();
                for chunk in hashes.chunks(crate::survey_records::ROWS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT email_hash FROM opt_outs WHERE email_hash IN (",
                    );
                    let mut list = qb.separated(", ");
                    for h in chunk {
                        list.push_bind(*h);
                    }
                    qb.push(")");
                    let found: Vec<String> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
                    opted.extend(found);
                }
                let wanted: Vec<&(&crate::survey_records::NewInvitation, String)> =
                    hashed.iter().filter(|(_, h)| !opted.contains(h)).collect();
                let mut done = crate::survey_records::InvitationsCreated {
                    opted_out: (rows.len() - wanted.len()) as u64,
                    ..Default::default()
                };
                let before: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM invitations WHERE survey_id = $1")
                        .bind(survey_id)
                        .fetch_one(&mut *tx)
                        .await?;
                for chunk in wanted.chunks(crate::survey_records::ROWS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO invitations (survey_id, customer_id, email, email_hash, language, \
                         segment, channel, response_id, token_hash, created_unix, expires_unix) ",
                    );
                    qb.push_values(chunk, |mut b, (r, hash)| {
                        b.push_bind(survey_id)
                            .push_bind(r.customer_id.clone())
                            .push_bind(r.email.clone())
                            .push_bind(hash.clone())
                            .push_bind(r.language.clone())
                            .push_bind(r.segment.clone())
                            .push_bind(r.channel.clone())
                            .push_bind(r.response_id.clone())
                            .push_bind(r.token_hash.clone())
                            .push_bind(now_unix)
                            .push_bind(expires_unix);
                    });
                    qb.push(" ON CONFLICT (survey_id, customer_id) DO NOTHING");
                    done.created += qb.build().execute(&mut *tx).await?.rows_affected();
                }
                done.already_invited = wanted.len() as u64 - done.created;
                crate::survey_records::check_invitation_total(
                    before.saturating_add(i64::try_from(done.created).unwrap_or(i64::MAX)),
                )?;
                sqlx::query(
                    "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                     VALUES ($1, $2, 'survey.invite', $3, $4)",
                )
                .bind(now_unix)
                .bind(actor)
                .bind(format!("survey/{survey_id}"))
                .bind(format!(
                    "{} invited, {} opted out, {} already invited",
                    done.created, done.opted_out, done.already_invited
                ))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done)
            }

            async fn invitation_by_token(
                &self,
                token_hash: &str,
            ) -> StoreResult<Option<crate::survey_records::Invitation>> {
                let row: Option<crate::survey_records::InvitationRow> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!("{} WHERE i.token_hash = $1", crate::survey_records::INVITATION_SELECT),
                ))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(crate::survey_records::invitation_of))
            }

            async fn mark_invitation_opened(&self, id: i64, now_unix: i64) -> StoreResult<()> {
                let found: Option<Option<i64>> = sqlx::query_scalar(
                    "UPDATE invitations SET opened_unix = COALESCE(opened_unix, $2) WHERE id = $1 \
                     RETURNING opened_unix",
                )
                .bind(id)
                .bind(now_unix)
                .fetch_optional(&self.pool)
                .await?;
                match found {
                    Some(_) => Ok(()),
                    None => Err(StoreError::NotFound(format!("invitation {id} does not exist"))),
                }
            }

            async fn invitations(
                &self,
                survey_id: i64,
                after_id: i64,
                limit: usize,
            ) -> StoreResult<Vec<crate::survey_records::Invitation>> {
                let rows: Vec<crate::survey_records::InvitationRow> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!(
                        "{} WHERE i.survey_id = $1 AND i.id > $2 ORDER BY i.id LIMIT $3",
                        crate::survey_records::INVITATION_SELECT
                    ),
                ))
                .bind(survey_id)
                .bind(after_id)
                .bind(crate::survey_records::page_limit(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(crate::survey_records::invitation_of).collect())
            }

            async fn invitations_to_send(
                &self,
                survey_id: i64,
                now_unix: i64,
                limit: usize,
            ) -> StoreResult<Vec<crate::survey_records::Invitation>> {
                let rows: Vec<crate::survey_records::InvitationRow> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!(
                        "{} WHERE i.survey_id = $1 AND i.sent_unix IS NULL AND i.expires_unix > $2 \
                         AND o.email_hash IS NULL ORDER BY i.id LIMIT $3",
                        crate::survey_records::INVITATION_SELECT
                    ),
                ))
                .bind(survey_id)
                .bind(now_unix)
                .bind(crate::survey_records::page_limit(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(crate::survey_records::invitation_of).collect())
            }

            async fn invitations_to_remind(
                &self,
                survey_id: i64,
                quiet_since_unix: i64,
                max_reminders: i64,
                now_unix: i64,
                limit: usize,
            ) -> StoreResult<Vec<crate::survey_records::Invitation>> {
                let rows: Vec<crate::survey_records::InvitationRow> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!(
                        "{} WHERE i.survey_id = $1 AND i.sent_unix IS NOT NULL \
                         AND COALESCE(i.reminded_unix, i.sent_unix) <= $2 AND i.reminders < $3 \
                         AND i.expires_unix > $4 AND r.external_id IS NULL AND o.email_hash IS NULL \
                         ORDER BY i.id LIMIT $5",
                        crate::survey_records::INVITATION_SELECT
                    ),
                ))
                .bind(survey_id)
                .bind(quiet_since_unix)
                .bind(max_reminders)
                .bind(now_unix)
                .bind(crate::survey_records::page_limit(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(crate::survey_records::invitation_of).collect())
            }

            async fn mark_invitations_sent(
                &self,
                ids: &[i64],
                reminder: bool,
                now_unix: i64,
            ) -> StoreResult<()> {
                crate::survey_records::check_ids(ids)?;
                if ids.is_empty() {
                    return Ok(());
                }
                let mut ids = ids.to_vec();
                // One order of row locks for every writer (PostgreSQL).
                ids.sort_unstable();
                ids.dedup();
                let mut tx = self.begin_write().await?;
                for chunk in ids.chunks(crate::survey_records::ROWS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(if reminder {
                        "UPDATE invitations SET reminders = reminders + 1, reminded_unix = "
                    } else {
                        "UPDATE invitations SET sent_unix = COALESCE(sent_unix, "
                    });
                    qb.push_bind(now_unix);
                    qb.push(if reminder { "" } else { ")" });
                    qb.push(" WHERE id IN (");
                    let mut list = qb.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    qb.push(")");
                    qb.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn opt_out(&self, email: &str, now_unix: i64) -> StoreResult<()> {
                crate::survey_records::check_email(email)?;
                let mut tx = self.begin_write().await?;
                let added = sqlx::query(
                    "INSERT INTO opt_outs (email_hash, created_unix) VALUES ($1, $2) \
                     ON CONFLICT (email_hash) DO NOTHING",
                )
                .bind(crate::survey_records::email_hash(email))
                .bind(now_unix)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if added > 0 {
                    sqlx::query(
                        "INSERT INTO audit_log (at_unix, actor, action, target, detail) \
                         VALUES ($1, 'respondent', 'survey.opt_out', 'opt_outs', 'an address opted out')",
                    )
                    .bind(now_unix)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn opted_out(&self, email: &str) -> StoreResult<bool> {
                let found: Option<i64> =
                    sqlx::query_scalar("SELECT created_unix FROM opt_outs WHERE email_hash = $1")
                        .bind(crate::survey_records::email_hash(email))
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(found.is_some())
            }

            async fn response_rates(
                &self,
                survey_id: i64,
                from_unix: i64,
                to_unix: i64,
            ) -> StoreResult<Vec<crate::survey_records::RateCell>> {
                let rows: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT i.segment, i.channel, COUNT(*), COUNT(i.sent_unix), COUNT(i.opened_unix), \
                     COUNT(r.external_id) FROM invitations i \
                     LEFT JOIN responses r ON r.external_id = i.response_id \
                     WHERE i.survey_id = $1 AND i.created_unix >= $2 AND i.created_unix < $3 \
                     GROUP BY i.segment, i.channel",
                )
                .bind(survey_id)
                .bind(from_unix)
                .bind(to_unix)
                .fetch_all(&self.pool)
                .await?;
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                let mut out: Vec<crate::survey_records::RateCell> = rows
                    .into_iter()
                    .map(|(segment, channel, invited, sent, opened, answered)| {
                        crate::survey_records::RateCell {
                            segment,
                            channel,
                            invited: count(invited),
                            sent: count(sent),
                            opened: count(opened),
                            answered: count(answered),
                        }
                    })
                    .collect();
                out.sort_by(|a, b| (&a.segment, &a.channel).cmp(&(&b.segment, &b.channel)));
                Ok(out)
            }

            async fn customer_contacts(
                &self,
                segment: &str,
                limit: usize,
            ) -> StoreResult<Vec<crate::survey_records::CustomerContact>> {
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT customer_id, attributes FROM customers \
                     WHERE segment = $1 AND LOWER(attributes) LIKE '%\"email\"%' ORDER BY customer_id LIMIT $2",
                )
                .bind(segment)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let mut out: Vec<crate::survey_records::CustomerContact> = rows
                    .into_iter()
                    .filter_map(|(id, attributes)| crate::survey_records::contact_of(id, &attributes))
                    .collect();
                out.sort_by(|a, b| a.customer_id.as_bytes().cmp(b.customer_id.as_bytes()));
                Ok(out)
            }

            async fn customer_segments_of(
                &self,
                ids: &[String],
            ) -> StoreResult<Vec<(String, String)>> {
                let mut out = Vec::new();
                for chunk in ids.chunks(crate::survey_records::IDS_PER_STATEMENT) {
                    let placeholders: Vec<String> =
                        (1..=chunk.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "SELECT customer_id, segment FROM customers \
                         WHERE segment IS NOT NULL AND customer_id IN ({})",
                        placeholders.join(", ")
                    );
                    let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(id);
                    }
                    out.extend(query.fetch_all(&self.pool).await?);
                }
                Ok(out)
            }

            async fn survey_data(&self) -> StoreResult<crate::survey_records::SurveyData> {
                let surveys: Vec<crate::survey_records::SurveyRow> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!("SELECT {} FROM surveys ORDER BY id", crate::survey_records::SURVEY_COLUMNS),
                ))
                .fetch_all(&self.pool)
                .await?;
                let versions: Vec<crate::survey_records::VersionRow> = sqlx::query_as(
                    "SELECT survey_id, version, document, created_by, created_unix FROM survey_versions \
                     ORDER BY survey_id, version",
                )
                .fetch_all(&self.pool)
                .await?;
                let invitations: Vec<crate::survey_records::CopiedInvitationRow> =
                    sqlx::query_as(crate::survey_records::COPIED_INVITATION_SELECT)
                        .fetch_all(&self.pool)
                        .await?;
                let mut opt_outs: Vec<(String, i64)> =
                    sqlx::query_as("SELECT email_hash, created_unix FROM opt_outs")
                        .fetch_all(&self.pool)
                        .await?;
                opt_outs.sort_unstable();
                Ok(crate::survey_records::SurveyData {
                    surveys: surveys
                        .into_iter()
                        .map(crate::survey_records::survey_of)
                        .collect::<StoreResult<_>>()?,
                    versions: versions.into_iter().map(crate::survey_records::version_of).collect(),
                    invitations: invitations
                        .into_iter()
                        .map(crate::survey_records::copied_invitation_of)
                        .collect(),
                    opt_outs,
                })
            }

            async fn put_copied_survey_data(
                &self,
                data: &crate::survey_records::SurveyData,
            ) -> StoreResult<u64> {
                let mut tx = self.begin_write().await?;
                for s in &data.surveys {
                    sqlx::query(
                        "INSERT INTO surveys (id, name, status, current_version, public_slug, created_by, \
                         created_unix, updated_by, updated_unix) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name, status = excluded.status, \
                         current_version = excluded.current_version, public_slug = excluded.public_slug, \
                         created_by = excluded.created_by, created_unix = excluded.created_unix, \
                         updated_by = excluded.updated_by, updated_unix = excluded.updated_unix",
                    )
                    .bind(s.id)
                    .bind(&s.name)
                    .bind(s.status.as_str())
                    .bind(s.current_version)
                    .bind(&s.public_slug)
                    .bind(&s.created_by)
                    .bind(s.created_unix)
                    .bind(&s.updated_by)
                    .bind(s.updated_unix)
                    .execute(&mut *tx)
                    .await?;
                }
                for v in &data.versions {
                    sqlx::query(
                        "INSERT INTO survey_versions (survey_id, version, document, created_by, created_unix) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (survey_id, version) DO UPDATE SET \
                         document = excluded.document, created_by = excluded.created_by, \
                         created_unix = excluded.created_unix",
                    )
                    .bind(v.survey_id)
                    .bind(v.version)
                    .bind(&v.document)
                    .bind(&v.created_by)
                    .bind(v.created_unix)
                    .execute(&mut *tx)
                    .await?;
                }
                for chunk in data.invitations.chunks(crate::survey_records::ROWS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO invitations (id, survey_id, customer_id, email, email_hash, language, \
                         segment, channel, response_id, token_hash, created_unix, expires_unix, sent_unix, \
                         reminded_unix, reminders, opened_unix) ",
                    );
                    qb.push_values(chunk, |mut b, (i, token_hash)| {
                        b.push_bind(i.id)
                            .push_bind(i.survey_id)
                            .push_bind(i.customer_id.clone())
                            .push_bind(i.email.clone())
                            .push_bind(crate::survey_records::email_hash(&i.email))
                            .push_bind(i.language.clone())
                            .push_bind(i.segment.clone())
                            .push_bind(i.channel.clone())
                            .push_bind(i.response_id.clone())
                            .push_bind(token_hash.clone())
                            .push_bind(i.created_unix)
                            .push_bind(i.expires_unix)
                            .push_bind(i.sent_unix)
                            .push_bind(i.reminded_unix)
                            .push_bind(i.reminders)
                            .push_bind(i.opened_unix);
                    });
                    qb.push(
                        " ON CONFLICT (id) DO UPDATE SET survey_id = excluded.survey_id, \
                         customer_id = excluded.customer_id, email = excluded.email, \
                         email_hash = excluded.email_hash, language = excluded.language, \
                         segment = excluded.segment, channel = excluded.channel, \
                         response_id = excluded.response_id, token_hash = excluded.token_hash, \
                         created_unix = excluded.created_unix, expires_unix = excluded.expires_unix, \
                         sent_unix = excluded.sent_unix, reminded_unix = excluded.reminded_unix, \
                         reminders = excluded.reminders, opened_unix = excluded.opened_unix",
                    );
                    qb.build().execute(&mut *tx).await?;
                }
                for chunk in data.opt_outs.chunks(crate::survey_records::ROWS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO opt_outs (email_hash, created_unix) ",
                    );
                    qb.push_values(chunk, |mut b, (hash, created_unix)| {
                        b.push_bind(hash.clone()).push_bind(*created_unix);
                    });
                    qb.push(
                        " ON CONFLICT (email_hash) DO UPDATE SET created_unix = excluded.created_unix",
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

pub(crate) use survey_records;
