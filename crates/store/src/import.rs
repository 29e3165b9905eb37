//! CSV import: streams a file, validates each row with the same rules as the
//! API, writes accepted rows in batches and reports every rejected row with
//! its line. Parsing runs on its own thread so that it overlaps the writes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;

use northstar_core::customer::{CustomerColumns, NewCustomer};
use northstar_core::field::{self, FieldError};
use northstar_core::operation::{NewOperation, OperationColumns};
use northstar_core::response::{NewResponse, ResponseColumns};

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;

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
    /// Data rows read (the header and blank lines not counted).
    pub rows_read: u64,
    pub written: WriteSummary,
    /// Every rejected row, counted.
    pub rejected_rows: u64,
    /// The first [`KEPT_REJECTIONS`] rejected rows.
    pub rejected: Vec<RowError>,
    /// Rows that produced something to write. For responses and customers
    /// one row is one record; an operations row gives one record per measure,
    /// so `written` counts measures and this counts rows.
    pub rows_accepted: u64,
    /// Header warnings, e.g. a column kept as an attribute that looks like
    /// a known column (`NPS Score`).
    pub warnings: Vec<FieldError>,
}

/// Why an import stopped. Batches already written stay written (each batch
/// is its own transaction), and a re-run imports the rest idempotently.
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
    /// Header warnings (look-alike columns kept as attributes).
    fn warnings(&self) -> Vec<FieldError>;
    /// The key that must be unique within one file: what it is called and
    /// its value.
    fn unique_key(item: &Self::Item) -> (&'static str, String);
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
    fn warnings(&self) -> Vec<FieldError> {
        ResponseColumns::warnings(self).to_vec()
    }
    fn unique_key(item: &NewResponse) -> (&'static str, String) {
        ("external_id", item.external_id.clone())
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
    fn warnings(&self) -> Vec<FieldError> {
        CustomerColumns::warnings(self).to_vec()
    }
    fn unique_key(item: &NewCustomer) -> (&'static str, String) {
        ("customer_id", item.customer_id.clone())
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
    fn warnings(&self) -> Vec<FieldError> {
        OperationColumns::warnings(self).to_vec()
    }
    fn unique_key(o: &NewOperation) -> (&'static str, String) {
        // One row yields several measures; (department, order_id) may repeat
        // across rows with different measures, but not the same measure.
        (
            "order_id",
            format!("{}/{} ({})", o.department, o.order_id, o.measure),
        )
    }
    async fn write(
        store: &dyn Store,
        items: Vec<NewOperation>,
    ) -> Result<WriteSummary, StoreError> {
        store.write_operations(items).await
    }
}

/// Sees an import as it goes: bytes read (for a progress bar) and each
/// rejected row as soon as it is known, so a caller can report every row
/// without the import holding them all in memory.
pub trait ImportObserver {
    fn progress(&mut self, _bytes_read: u64) {}
    fn rejected(&mut self, _row: &RowError) {}
    fn warning(&mut self, _warning: &FieldError) {}
    /// A write transaction committed: every accepted row up to `through_line`
    /// is durable (`rows_accepted` so far).
    fn committed(&mut self, _through_line: u64, _rows_accepted: u64) {}
}

/// An observer that ignores everything.
impl ImportObserver for () {}

/// Rejected rows kept in [`ImportReport::rejected`]; all are counted and
/// passed to the observer.
pub const KEPT_REJECTIONS: usize = 1_000;

/// An import that stopped part-way, with what it had done until then.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct ImportFailure {
    pub report: ImportReport,
    pub error: ImportError,
}

/// How an import runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Rows per write transaction (at least 1).
    pub batch_rows: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            batch_rows: BATCH_ROWS,
        }
    }
}

/// Imports a CSV file of the given kind.
pub async fn import_csv<R: Read + Send + 'static>(
    store: &dyn Store,
    kind: ImportKind,
    reader: R,
    observer: &mut impl ImportObserver,
) -> Result<ImportReport, ImportFailure> {
    import_csv_with(store, kind, reader, observer, ImportOptions::default()).await
}

/// Imports a CSV file of the given kind with explicit options.
pub async fn import_csv_with<R: Read + Send + 'static>(
    store: &dyn Store,
    kind: ImportKind,
    reader: R,
    observer: &mut impl ImportObserver,
    options: ImportOptions,
) -> Result<ImportReport, ImportFailure> {
    let rows = options.batch_rows.max(1);
    match kind {
        ImportKind::Responses => {
            import_with::<ResponseColumns, R>(store, reader, observer, rows).await
        }
        ImportKind::Customers => {
            import_with::<CustomerColumns, R>(store, reader, observer, rows).await
        }
        ImportKind::Operations => {
            import_with::<OperationColumns, R>(store, reader, observer, rows).await
        }
    }
}

/// What the parsing thread sends: accepted items, rejected rows, bytes read.
struct ParsedBatch<T> {
    items: Vec<T>,
    rejected: Vec<RowError>,
    warnings: Vec<FieldError>,
    rows: u64,
    rows_accepted: u64,
    bytes: u64,
    /// The last line of the file this batch covers.
    last_line: u64,
}

impl<T> ParsedBatch<T> {
    fn new(batch_rows: usize) -> Self {
        Self {
            items: Vec::with_capacity(batch_rows.min(BATCH_ROWS)),
            rejected: Vec::new(),
            warnings: Vec::new(),
            rows: 0,
            rows_accepted: 0,
            bytes: 0,
            last_line: 0,
        }
    }
}

async fn import_with<L: Layout, R: Read + Send + 'static>(
    store: &dyn Store,
    reader: R,
    observer: &mut impl ImportObserver,
    batch_rows: usize,
) -> Result<ImportReport, ImportFailure> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<ParsedBatch<L::Item>, ImportError>>(2);
    let parser = std::thread::spawn(move || {
        if let Err(e) =
            parse_file::<L, R>(reader, batch_rows, &mut |b| tx.blocking_send(Ok(b)).is_ok())
        {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let mut report = ImportReport::default();
    let mut failure = None;
    // Up to WRITES_IN_FLIGHT batches are written at once (PostgreSQL runs
    // them on separate connections, overlapping their inserts); results are
    // taken in file order, so "committed through line N" only grows. A batch
    // that shares a key with one still in flight waits for it, so the last
    // row of a file still wins.
    // A single writer (SQLite) takes one batch at a time: two in flight
    // could reach its write lock out of file order (each first checks the
    // cube), and a kill would then leave a later batch without an earlier.
    let writes_in_flight = if store.backend().writes_in_parallel() {
        WRITES_IN_FLIGHT
    } else {
        1
    };
    let mut in_flight = FuturesOrdered::new();
    let mut in_flight_keys: VecDeque<HashSet<String>> = VecDeque::new();
    let mut batches = true;
    while batches || !in_flight.is_empty() {
        let next = if batches && in_flight.len() < writes_in_flight {
            tokio::select! {
                biased;
                batch = rx.recv() => Next::Batch(batch),
                done = in_flight.next(), if !in_flight.is_empty() => Next::Written(done),
            }
        } else {
            Next::Written(in_flight.next().await)
        };
        match next {
            Next::Batch(None) => batches = false,
            Next::Batch(Some(Err(e))) => {
                failure = Some(e);
                batches = false;
            }
            Next::Batch(Some(Ok(batch))) => {
                report.rows_read += batch.rows;
                for w in batch.warnings {
                    observer.warning(&w);
                    report.warnings.push(w);
                }
                // Rejected rows are reported whether or not the write succeeds.
                for row in batch.rejected {
                    observer.rejected(&row);
                    report.rejected_rows += 1;
                    if report.rejected.len() < KEPT_REJECTIONS {
                        report.rejected.push(row);
                    }
                }
                if batch.items.is_empty() {
                    observer.progress(batch.bytes);
                    continue;
                }
                let keys: HashSet<String> = batch
                    .items
                    .iter()
                    .map(|item| L::unique_key(item).1)
                    .collect();
                while in_flight_keys.iter().any(|k| !k.is_disjoint(&keys)) {
                    match in_flight.next().await {
                        Some(done) => {
                            in_flight_keys.pop_front();
                            if let Err(e) = settle(done, failure.is_some(), &mut report, observer) {
                                failure.get_or_insert(e);
                            }
                        }
                        None => break,
                    }
                }
                in_flight_keys.push_back(keys);
                let meta = (batch.last_line, batch.rows_accepted, batch.bytes);
                in_flight.push_back(async move { (meta, L::write(store, batch.items).await) });
            }
            Next::Written(None) => {}
            Next::Written(Some(done)) => {
                in_flight_keys.pop_front();
                if let Err(e) = settle(done, failure.is_some(), &mut report, observer) {
                    failure.get_or_insert(e);
                }
            }
        }
        if failure.is_some() && batches {
            // Stop reading; let the writes already sent finish.
            batches = false;
        }
    }
    drop(rx);
    let _ = parser.join();
    match failure {
        None => Ok(report),
        Some(error) => Err(ImportFailure { report, error }),
    }
}

/// Batches written at once by one import.
const WRITES_IN_FLIGHT: usize = 2;

enum Next<B, W> {
    Batch(Option<B>),
    Written(Option<W>),
}

/// A batch's (last line, rows accepted, bytes) and its write's outcome.
type Written = ((u64, u64, u64), Result<WriteSummary, StoreError>);

/// Takes a finished write into the report (in file order). After an
/// earlier batch failed, a later one's rows count as written, but the
/// committed prefix of the file no longer grows.
fn settle(
    ((last_line, rows_accepted, bytes), result): Written,
    after_failure: bool,
    report: &mut ImportReport,
    observer: &mut impl ImportObserver,
) -> Result<(), ImportError> {
    match result {
        Ok(w) => {
            report.written.add(w);
            report.rows_accepted += rows_accepted;
            if !after_failure {
                observer.committed(last_line, report.rows_accepted);
            }
            observer.progress(bytes);
            Ok(())
        }
        // The batch was rolled back: its rows were read but not written.
        Err(e) => Err(e.into()),
    }
}

/// What parsing a whole file gave, without writing anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedCsv {
    pub rows_read: u64,
    pub rows_accepted: u64,
    /// Records the accepted rows gave (an operations row gives one per measure).
    pub records: u64,
    pub rejected: Vec<RowError>,
    pub warnings: Vec<FieldError>,
}

/// Parses and validates a CSV file of the given kind in memory, exactly as
/// an import does, but writes nothing (for `cargo fuzz` and for checks).
pub fn parse_csv(kind: ImportKind, bytes: &[u8]) -> Result<ParsedCsv, ImportError> {
    fn run<L: Layout>(bytes: &[u8]) -> Result<ParsedCsv, ImportError> {
        let mut parsed = ParsedCsv::default();
        let result = parse_file::<L, _>(bytes, BATCH_ROWS, &mut |b: ParsedBatch<L::Item>| {
            parsed.rows_read += b.rows;
            parsed.rows_accepted += b.rows_accepted;
            parsed.records += b.items.len() as u64;
            parsed.rejected.extend(b.rejected);
            parsed.warnings.extend(b.warnings);
            true
        });
        result.map(|()| parsed)
    }
    match kind {
        ImportKind::Responses => run::<ResponseColumns>(bytes),
        ImportKind::Customers => run::<CustomerColumns>(bytes),
        ImportKind::Operations => run::<OperationColumns>(bytes),
    }
}

/// Counts what the CSV reader pulls through, so that the last record of a
/// file without a final newline gets the right line number.
struct CountingReader<R> {
    inner: R,
    total: u64,
    /// The last four bytes read, oldest first.
    tail: [u8; 4],
    at_end: bool,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.at_end = true;
        }
        self.total += n as u64;
        for &b in &buf[..n.min(buf.len())][n.saturating_sub(4)..] {
            self.tail = [self.tail[1], self.tail[2], self.tail[3], b];
        }
        Ok(n)
    }
}

/// Parses a file into batches handed to `sink`; stops early when `sink`
/// returns false (the writer stopped and reports why).
fn parse_file<L: Layout, R: Read>(
    reader: R,
    batch_rows: usize,
    sink: &mut dyn FnMut(ParsedBatch<L::Item>) -> bool,
) -> Result<(), ImportError> {
    // Records end at '\n' only: with the default, a CRLF file's '\n' is read
    // as the start of the next record and every line number is off by one.
    // A '\r' before the '\n' is trimmed with the rest of the cell's whitespace.
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(CountingReader {
            inner: reader,
            total: 0,
            tail: [0; 4],
            at_end: false,
        });
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
    // Keys seen in this file, as 128-bit hashes: a 10M-row file stays small
    // in memory, and a false "duplicate" is vanishingly unlikely.
    let mut seen: HashMap<u128, u64> = HashMap::new();
    let mut batch = ParsedBatch::new(batch_rows);
    batch.warnings = layout.warnings();
    loop {
        let more = match csv.read_byte_record(&mut record) {
            Ok(more) => more,
            Err(e) => {
                // Keep what was parsed before the unreadable part.
                batch.bytes = csv.position().byte();
                sink(batch);
                return Err(e.into());
            }
        };
        if more && !is_blank(&record) {
            let (line, last_line) = record_lines(&csv, &record);
            batch.rows += 1;
            batch.last_line = last_line;
            match row_cells(&record, layout.width(), line, last_line)
                .and_then(|cells| layout.parse(&cells))
            {
                Ok(items) => match duplicate_of::<L>(&mut seen, &items, line) {
                    Some(e) => batch.rejected.push(RowError {
                        line,
                        errors: vec![e],
                    }),
                    None => {
                        batch.rows_accepted += u64::from(!items.is_empty());
                        batch.items.extend(items);
                    }
                },
                Err(errors) => batch.rejected.push(RowError { line, errors }),
            }
        }
        let full = batch.items.len() >= batch_rows || batch.rows >= 4 * batch_rows as u64;
        if full || (!more && (batch.rows > 0 || !batch.warnings.is_empty())) {
            batch.bytes = csv.position().byte();
            let ready = std::mem::replace(&mut batch, ParsedBatch::new(batch_rows));
            if !sink(ready) {
                return Ok(()); // the writer stopped; it reports why
            }
        }
        if !more {
            return Ok(());
        }
    }
}

/// A line with nothing but whitespace (e.g. "\r" in a CRLF file).
fn is_blank(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && record.as_slice().iter().all(u8::is_ascii_whitespace)
}

/// First and last line of the record just read, counted back from where the
/// reader stopped (the record's own start position does not count blank
/// lines skipped before it).
fn record_lines<R: Read>(
    csv: &csv::Reader<CountingReader<R>>,
    record: &csv::ByteRecord,
) -> (u64, u64) {
    let after = csv.position();
    let source = csv.get_ref();
    let last_field_ends_in_newline = record
        .iter()
        .next_back()
        .is_some_and(|f| f.ends_with(b"\n"));
    let terminated = if source.at_end && after.byte() == source.total {
        // At the end of the file the final '\n' ends the record unless it
        // sits inside a quoted field that was never closed.
        // A last field that ends in a newline ends the record only if a
        // closing quote follows that newline (`…\n"\n`); in `…,"\n` the quote
        // opens a field that holds the newline and is never closed.
        let [w, x, y, z] = source.tail;
        let (before_quote, quote) = if y == b'\r' { (w, x) } else { (x, y) };
        z == b'\n'
            && (!last_field_ends_in_newline
                || (quote == b'"' && matches!(before_quote, b'\n' | b'\r')))
    } else {
        true
    };
    let inside = record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
    let first_line = after
        .line()
        .saturating_sub(u64::from(terminated) + inside)
        .max(1);
    // An unclosed quote at the end of the file ends on its own last newline.
    let last_line =
        after.line() - u64::from(terminated) - u64::from(!terminated && last_field_ends_in_newline);
    (first_line, last_line.max(first_line))
}

/// The first of a row's keys already seen on an earlier line; the row's
/// keys are recorded only when none was.
fn duplicate_of<L: Layout>(
    seen: &mut HashMap<u128, u64>,
    items: &[L::Item],
    line: u64,
) -> Option<FieldError> {
    let digest = |key: &str| {
        let hash = |salt: u8| {
            let mut h = DefaultHasher::new();
            salt.hash(&mut h);
            key.hash(&mut h);
            h.finish()
        };
        (u128::from(hash(0)) << 64) | u128::from(hash(1))
    };
    let keys: Vec<(&'static str, String)> = items.iter().map(L::unique_key).collect();
    for (field, key) in &keys {
        if let Some(first) = seen.get(&digest(key)) {
            return Some(FieldError::new(
                *field,
                format!("{key:?} already appeared on line {first} of this file"),
                "give each row its own id; this row was not imported",
            ));
        }
    }
    for (_, key) in &keys {
        seen.insert(digest(key), line);
    }
    None
}

/// The cells of a row as text, or why the row cannot be read.
fn row_cells(
    record: &csv::ByteRecord,
    width: usize,
    line: u64,
    last_line: u64,
) -> Result<Vec<&str>, Vec<FieldError>> {
    if record.len() != width {
        return Err(vec![if last_line > line {
            FieldError::new(
                "row",
                format!(
                    "lines {line}–{last_line} were read as one row of {} fields (the header has {width}): a quoted field is probably not closed",
                    record.len()
                ),
                "close the quote; inside a quoted field write a quote as \"\"",
            )
        } else {
            FieldError::new(
                "row",
                format!("has {} fields but the header has {width}", record.len()),
                "quote fields that contain commas, and give every row one cell per column",
            )
        }]);
    }
    let mut cells = Vec::with_capacity(width);
    let mut errors = Vec::new();
    for (i, bytes) in record.iter().enumerate() {
        match std::str::from_utf8(bytes) {
            Ok(s) => cells.push(s),
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
