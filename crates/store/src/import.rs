//! CSV import: streams a file, validates each row with the same rules as the
//! API, writes accepted rows in batches and reports every rejected row with
//! its line. Parsing runs on its own thread so that it overlaps the writes.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;

use northstar_core::customer::{CustomerColumns, NewCustomer};
use northstar_core::field::{self, FieldError};
use northstar_core::operation::{NewOperation, OperationColumns};
use northstar_core::response::{NewResponse, ResponseColumns};

use crate::{Store, StoreError, WriteSummary};

/// Rows per write transaction.
pub const BATCH_ROWS: usize = 50_000;

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    /// Line in the file where the row starts (1 is the header), or the
    /// index of the item in an API batch.
    pub line: u64,
    pub errors: Vec<FieldError>,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.line, field::describe(&self.errors))
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Data rows read (the header not counted).
    pub rows_read: u64,
    pub written: WriteSummary,
    pub rejected: Vec<RowError>,
}

/// Why an import stopped. Rows already written stay written (each batch is
/// its own transaction), and a re-run imports the rest idempotently.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the header is not usable: {}", field::describe(.0))]
    Header(Vec<FieldError>),
    #[error("the file has no header row")]
    Empty,
    #[error("reading the file failed: {0}")]
    Read(#[from] csv::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What kind of rows a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Responses,
    Customers,
    Operations,
}

/// A row layout resolved from a header, and where its rows are written.
pub trait Layout: Sized + Send + 'static {
    type Item: Send + 'static;
    fn from_header(header: &[&str]) -> Result<Self, Vec<FieldError>>;
    fn width(&self) -> usize;
    fn parse(&self, cells: &[&str]) -> Result<Vec<Self::Item>, Vec<FieldError>>;
    /// The key that must be unique within one file, if any.
    fn unique_key(item: &Self::Item) -> Option<(&'static str, &str)>;
    fn write(
        store: &dyn Store,
        items: Vec<Self::Item>,
    ) -> impl std::future::Future<Output = Result<WriteSummary, StoreError>> + Send;
}

impl Layout for ResponseColumns {
    type Item = NewResponse;
    fn from_header(header: &[&str]) -> Result<Self, Vec<FieldError>> {
        ResponseColumns::from_header(header)
    }
    fn width(&self) -> usize {
        self.len()
    }
    fn parse(&self, cells: &[&str]) -> Result<Vec<NewResponse>, Vec<FieldError>> {
        self.parse_row(cells).map(|r| vec![r])
    }
    fn unique_key(item: &NewResponse) -> Option<(&'static str, &str)> {
        Some(("external_id", &item.external_id))
    }
    async fn write(store: &dyn Store, items: Vec<NewResponse>) -> Result<WriteSummary, StoreError> {
        store.write_responses(items).await
    }
}

impl Layout for CustomerColumns {
    type Item = NewCustomer;
    fn from_header(header: &[&str]) -> Result<Self, Vec<FieldError>> {
        CustomerColumns::from_header(header)
    }
    fn width(&self) -> usize {
        self.len()
    }
    fn parse(&self, cells: &[&str]) -> Result<Vec<NewCustomer>, Vec<FieldError>> {
        self.parse_row(cells).map(|c| vec![c])
    }
    fn unique_key(item: &NewCustomer) -> Option<(&'static str, &str)> {
        Some(("customer_id", &item.customer_id))
    }
    async fn write(store: &dyn Store, items: Vec<NewCustomer>) -> Result<WriteSummary, StoreError> {
        store.write_customers(items).await
    }
}

impl Layout for OperationColumns {
    type Item = NewOperation;
    fn from_header(header: &[&str]) -> Result<Self, Vec<FieldError>> {
        OperationColumns::from_header(header)
    }
    fn width(&self) -> usize {
        self.len()
    }
    fn parse(&self, cells: &[&str]) -> Result<Vec<NewOperation>, Vec<FieldError>> {
        self.parse_row(cells)
    }
    fn unique_key(_: &NewOperation) -> Option<(&'static str, &str)> {
        // One row yields several measures; (department, order_id) may repeat
        // across rows with different measures, and a repeat replaces.
        None
    }
    async fn write(
        store: &dyn Store,
        items: Vec<NewOperation>,
    ) -> Result<WriteSummary, StoreError> {
        store.write_operations(items).await
    }
}

/// Imports a CSV file of the given kind. `progress` is called with the
/// number of bytes read so far after each batch.
pub async fn import_csv<R: Read + Send + 'static>(
    store: &dyn Store,
    kind: ImportKind,
    reader: R,
    progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    match kind {
        ImportKind::Responses => import_with::<ResponseColumns, R>(store, reader, progress).await,
        ImportKind::Customers => import_with::<CustomerColumns, R>(store, reader, progress).await,
        ImportKind::Operations => import_with::<OperationColumns, R>(store, reader, progress).await,
    }
}

/// What the parsing thread sends: accepted items, rejected rows, bytes read.
struct ParsedBatch<T> {
    items: Vec<T>,
    rejected: Vec<RowError>,
    rows: u64,
    bytes: u64,
}

async fn import_with<L: Layout, R: Read + Send + 'static>(
    store: &dyn Store,
    reader: R,
    mut progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<ParsedBatch<L::Item>, ImportError>>(2);
    let parser = std::thread::spawn(move || {
        if let Err(e) = parse_file::<L, R>(reader, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let mut report = ImportReport::default();
    let mut outcome = Ok(());
    while let Some(batch) = rx.recv().await {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        report.rows_read += batch.rows;
        report.rejected.extend(batch.rejected);
        if !batch.items.is_empty() {
            match L::write(store, batch.items).await {
                Ok(w) => report.written.add(w),
                Err(e) => {
                    outcome = Err(e.into());
                    break;
                }
            }
        }
        progress(batch.bytes);
    }
    drop(rx);
    let _ = parser.join();
    outcome.map(|()| report)
}

fn parse_file<L: Layout, R: Read>(
    reader: R,
    tx: &tokio::sync::mpsc::Sender<Result<ParsedBatch<L::Item>, ImportError>>,
) -> Result<(), ImportError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    if !csv.read_byte_record(&mut record)? {
        return Err(ImportError::Empty);
    }
    let header: Vec<String> = record
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let layout = L::from_header(&header_refs).map_err(ImportError::Header)?;
    // Keys seen in this file, as 64-bit hashes (a 10M-row file stays in memory).
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut batch = ParsedBatch {
        items: Vec::with_capacity(BATCH_ROWS),
        rejected: Vec::new(),
        rows: 0,
        bytes: 0,
    };
    loop {
        let more = csv.read_byte_record(&mut record)?;
        if more {
            let line = record.position().map_or(0, |p| p.line());
            batch.rows += 1;
            match row_cells(&record, layout.width()).and_then(|cells| {
                let refs: Vec<&str> = cells.iter().map(|c| c.as_ref()).collect();
                layout.parse(&refs)
            }) {
                Ok(items) => {
                    let duplicate = items.first().and_then(L::unique_key).and_then(
                        |(field, key)| {
                            let mut h = DefaultHasher::new();
                            key.hash(&mut h);
                            match seen.insert(h.finish(), line) {
                                Some(first) => {
                                    seen.insert(h.finish(), first);
                                    Some(FieldError::new(
                                        field,
                                        format!(
                                            "{key:?} already appeared on line {first} of this file"
                                        ),
                                        "give each row its own id; this row was not imported",
                                    ))
                                }
                                None => None,
                            }
                        },
                    );
                    match duplicate {
                        Some(e) => batch.rejected.push(RowError {
                            line,
                            errors: vec![e],
                        }),
                        None => batch.items.extend(items),
                    }
                }
                Err(errors) => batch.rejected.push(RowError { line, errors }),
            }
        }
        if batch.items.len() >= BATCH_ROWS
            || (!more && (batch.rows > 0 || !batch.rejected.is_empty()))
        {
            batch.bytes = csv.position().byte();
            let full = std::mem::replace(
                &mut batch,
                ParsedBatch {
                    items: Vec::with_capacity(BATCH_ROWS),
                    rejected: Vec::new(),
                    rows: 0,
                    bytes: 0,
                },
            );
            if tx.blocking_send(Ok(full)).is_err() {
                return Ok(()); // the writer stopped; it reports why
            }
        }
        if !more {
            return Ok(());
        }
    }
}

/// The cells of a row as text, or why the row cannot be read.
fn row_cells(
    record: &csv::ByteRecord,
    width: usize,
) -> Result<Vec<std::borrow::Cow<'_, str>>, Vec<FieldError>> {
    if record.len() != width {
        return Err(vec![FieldError::new(
            "row",
            format!("has {} fields but the header has {width}", record.len()),
            "quote fields that contain commas, and give every row one cell per column",
        )]);
    }
    let mut cells = Vec::with_capacity(width);
    let mut errors = Vec::new();
    for (i, bytes) in record.iter().enumerate() {
        match std::str::from_utf8(bytes) {
            Ok(s) => cells.push(std::borrow::Cow::Borrowed(s)),
            Err(_) => errors.push(FieldError::new(
                format!("column {}", i + 1),
                "is not valid UTF-8",
                "save the file as UTF-8",
            )),
        }
    }
    if errors.is_empty() {
        Ok(cells)
    } else {
        Err(errors)
    }
}
