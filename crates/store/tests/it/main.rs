//! Store integration tests: one binary, a real SQLite file per test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod import;
mod rollups;

use std::sync::Arc;

use northstar_store::Store;

/// A fresh, migrated store in a temporary directory (kept alive by the guard).
pub async fn fresh_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = northstar_store::open(&url).await.unwrap();
    (store, dir)
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
mod customers;
