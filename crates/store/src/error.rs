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

impl StoreError {
    /// Whether this error is about the rows of the write rather than the
    /// database as a whole: a limit (distinct values), a refused or invalid
    /// batch, or the database rejecting a value (PostgreSQL's data and
    /// integrity errors, SQLSTATE classes 22 and 23, e.g. a NUL in text;
    /// SQLite's constraint, too-big and mismatch codes). A group of
    /// submissions that fails this way is worth splitting to find the row;
    /// any other error (connection, busy, disk) fails every part alike.
    pub fn concerns_rows(&self) -> bool {
        match self {
            StoreError::Limit { .. }
            | StoreError::InvalidBatch(_)
            | StoreError::Refused(_)
            | StoreError::Exists(_) => true,
            StoreError::Database(sqlx::Error::Database(e)) => {
                let code = e.code().unwrap_or_default();
                if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    // SQLite's extended result code; its low byte is the
                    // primary code: 18 TOOBIG, 19 CONSTRAINT, 20 MISMATCH.
                    code.parse::<i64>()
                        .is_ok_and(|n| matches!(n & 0xff, 18..=20))
                } else {
                    code.starts_with("22") || code.starts_with("23")
                }
            }
            StoreError::Database(
                sqlx::Error::Encode(_) | sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_),
            ) => true,
            _ => false,
        }
    }
}
