//! Throwaway databases for tests and benchmarks, on either backend, so that
//! one test body runs against SQLite and PostgreSQL alike.
//!
//! PostgreSQL comes from `NORTHSTAR_TEST_POSTGRES_URL` (a server the tests
//! may create and drop databases on; `scripts/test` starts a throwaway
//! cluster and sets it). Without it, PostgreSQL tests are skipped with a
//! note — except under `CI`, where a missing server is a failure.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

use crate::{StoreError, StoreResult};

/// The environment variable naming the test PostgreSQL server.
pub const POSTGRES_URL_VAR: &str = "NORTHSTAR_TEST_POSTGRES_URL";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A fresh, empty database, removed when dropped.
pub struct TestDb {
    url: String,
    engine: Engine,
    _dir: Option<tempfile::TempDir>,
    /// (server URL, database name) to drop afterwards.
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A new database on `engine`, or `None` when PostgreSQL is not
    /// configured outside CI.
    ///
    /// # Panics
    /// Under `CI` when PostgreSQL is not configured, and when the database
    /// cannot be created: tests must not pass by skipping.
    #[allow(clippy::expect_used)]
    pub async fn new(engine: Engine) -> Option<Self> {
        match engine {
            Engine::Sqlite => Some(Self::sqlite()),
            Engine::Postgres => {
                let server = postgres_server()?;
                Some(
                    Self::postgres(&server)
                        .await
                        .expect("create a test database on PostgreSQL"),
                )
            }
        }
    }

    /// A new SQLite file in a temporary directory.
    ///
    /// # Panics
    /// When no temporary directory can be made.
    #[allow(clippy::expect_used)]
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        Self {
            url,
            engine: Engine::Sqlite,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A new database on the PostgreSQL server `server` names.
    pub async fn postgres(server: &str) -> StoreResult<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "northstar_test_{}_{}_{}",
            std::process::id(),
            crate::schema::now_unix(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::PgConnection::connect(server).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(Self {
            url: with_database(server, &name)?,
            engine: Engine::Postgres,
            _dir: None,
            postgres: Some((server.to_string(), name)),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Opens (and migrates) a store on this database; call it twice for two
    /// processes sharing it.
    ///
    /// # Panics
    /// When the store cannot be opened.
    #[allow(clippy::expect_used)]
    pub async fn open(&self) -> std::sync::Arc<dyn crate::Store> {
        crate::open(&self.url).await.expect("open the test store")
    }

    /// [`TestDb::open`] with options.
    ///
    /// # Panics
    /// When the store cannot be opened.
    #[allow(clippy::expect_used)]
    pub async fn open_with(&self, options: crate::OpenOptions) -> std::sync::Arc<dyn crate::Store> {
        crate::open_with(&self.url, options)
            .await
            .expect("open the test store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside any async context we may block: a thread of
        // its own with a small runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&server).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// The test PostgreSQL server, if configured.
///
/// # Panics
/// Under `CI` when it is not.
pub fn postgres_server() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{POSTGRES_URL_VAR} is not set, and CI is: PostgreSQL tests must run. Use scripts/test, which starts a throwaway PostgreSQL cluster"
        ),
        _ => {
            eprintln!(
                "skipping a PostgreSQL test: {POSTGRES_URL_VAR} is not set (scripts/test sets it)"
            );
            None
        }
    }
}

/// The URL of database `name` on the server `server` names.
pub fn with_database(server: &str, name: &str) -> StoreResult<String> {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    if base.len() <= scheme_end {
        return Err(StoreError::UnsupportedUrl {
            url: crate::redact(server),
            reason: "expected postgres://user@host:port/database".into(),
        });
    }
    Ok(match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_replace_the_path() {
        assert_eq!(
            with_database("postgres://u@h:5/postgres", "x").unwrap(),
            "postgres://u@h:5/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5", "x").unwrap(),
            "postgres://u@h:5/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x").unwrap(),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
