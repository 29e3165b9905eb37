//! CSV downloads of the Understand tables: the rows a page shows, each with
//! its provenance columns; every download needs Export (routes.rs) and is
//! audited before its first byte, as `metrics.csv` is.

use std::borrow::Cow;

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::auth::Principal;
use crate::error::ApiError;
use northstar_store::Store;

/// A CSV table being written.
pub struct Table {
    writer: csv::Writer<Vec<u8>>,
}

fn failed(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("could not write CSV: {e}"))
}

/// A number cell: empty for none.
pub fn num(v: Option<f64>) -> Cow<'static, str> {
    v.map_or(Cow::Borrowed(""), |x| Cow::Owned(x.to_string()))
}

/// A text cell, neutralised against spreadsheet formulas.
pub fn text(v: &str) -> Cow<'static, str> {
    Cow::Owned(super::metrics::text_cell(v).into_owned())
}

impl Table {
    pub fn new(header: &[&str]) -> Result<Self, ApiError> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(header).map_err(failed)?;
        Ok(Self { writer })
    }

    pub fn row(&mut self, cells: &[Cow<'_, str>]) -> Result<(), ApiError> {
        self.writer
            .write_record(cells.iter().map(|c| c.as_ref()))
            .map_err(failed)
    }

    /// Writes the audit entry, then answers with the CSV as an attachment.
    pub async fn finish(
        self,
        store: &dyn Store,
        principal: &Principal,
        target: &str,
        detail: &str,
        filename: &str,
    ) -> Result<Response, ApiError> {
        let bytes = self.writer.into_inner().map_err(|e| failed(e.error()))?;
        crate::auth::audit_export(store, &principal.who, target, detail).await?;
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{filename}\""),
                ),
            ],
            bytes,
        )
            .into_response())
    }
}

/// `above`, `below` or `none`.
pub fn signal_name(s: northstar_core::trends::Signal) -> &'static str {
    use northstar_core::trends::Signal;
    match s {
        Signal::Above => "above",
        Signal::Below => "below",
        Signal::None => "none",
    }
}

/// `fix_first`, `keep_up`, `monitor` or `maintain`.
pub fn quadrant_name(q: northstar_core::drivers::Quadrant) -> &'static str {
    use northstar_core::drivers::Quadrant;
    match q {
        Quadrant::FixFirst => "fix_first",
        Quadrant::KeepUp => "keep_up",
        Quadrant::Monitor => "monitor",
        Quadrant::Maintain => "maintain",
    }
}
