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
    /// replaced, a live survey gets a new version (which new answers get);
    /// a closed survey is refused. The name cannot change (`Refused`).
    /// Audited (`survey.update`). Returns the current version.
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
    /// Every survey, version, invitation and opt-out, as stored.
    async fn survey_data(&self) -> StoreResult<SurveyData>;
    /// Writes records read by [`SurveyRecords::survey_data`] as they are
    /// (ids kept). Returns the rows written.
    async fn put_copied_survey_data(&self, data: &SurveyData) -> StoreResult<u64>;
}
