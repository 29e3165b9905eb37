//! Store integration tests: one binary, and one conformance suite. Every
//! behaviour is one test body, run by [`conformance!`] on a fresh SQLite
//! file and on a fresh PostgreSQL database (see
//! `northstar_store::test_db`: skipped with a note outside CI when no
//! server is configured, a failure under CI).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod customers;
mod departments;
mod erasure;
mod gaps;
mod import;
mod rollups;
mod settings;
mod survey_records;
mod time_zone;
mod value_records;

use northstar_store::Store;
pub use northstar_store::test_db::{Engine, TestDb};

/// Runs each named `async fn(TestDb)` of the calling module on both
/// backends, as `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(db) = $crate::TestDb::new($crate::Engine::Postgres).await {
                        super::$test(db).await;
                    }
                }
            )*
        }
    };
}

/// Runs a property-test case body on a fresh database of `engine`, on a
/// runtime of its own (proptest cases are synchronous).
pub fn on_fresh_db<F, Fut>(
    engine: Engine,
    body: F,
) -> Result<(), proptest::test_runner::TestCaseError>
where
    F: FnOnce(TestDb) -> Fut,
    Fut: std::future::Future<Output = Result<(), proptest::test_runner::TestCaseError>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match TestDb::new(engine).await {
            Some(db) => body(db).await,
            None => Ok(()),
        }
    })
}

pub async fn import_text(
    store: &dyn Store,
    kind: northstar_store::import::ImportKind,
    text: &str,
) -> Result<northstar_store::import::ImportReport, northstar_store::import::ImportError> {
    let cursor = std::io::Cursor::new(text.as_bytes().to_vec());
    northstar_store::import::import_csv(store, kind, cursor, &mut ())
        .await
        .map_err(|f| f.error)
}
