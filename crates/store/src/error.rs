/// Errors from the persistence layer. Messages are for operators; the server
/// logs them and returns a generic message to clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use database URL {url:?}: {reason}")]
    UnsupportedUrl { url: String, reason: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database is not ready: {0}")]
    NotReady(String),
    #[error("stored data could not be read back: {0}")]
    Corrupt(String),
    /// A client-facing limit: the message names the limit and the fix.
    #[error("{field}: {message}")]
    Limit { field: String, message: String },
    /// A record with this key exists already (e.g. an account's e-mail).
    #[error("{0}")]
    Exists(String),
    /// A change the store refuses because it would break a rule of the
    /// data (e.g. leave no active admin); the message says what to do.
    #[error("{0}")]
    Refused(String),
    /// The record a change names does not exist (e.g. a business case).
    #[error("{0}")]
    NotFound(String),
    /// Too much at once (queued scans, racing writers): retry in a moment.
    #[error("busy: {0}")]
    Busy(String),
    /// A caller bug: e.g. one key twice in a batch.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
}

pub type StoreResult<T> = Result<T, StoreError>;
