use northstar_core::Dimension;
use northstar_core::rollup::{CubeQuery, GroupBy};
use northstar_store::import::{ImportError, ImportKind};

use crate::{TestDb, import_text};

const HEADER: &str = "external_id,customer_id,submitted_at,survey,touchpoint,department,segment,channel,nps,csat,ces,fcr,comment,order_id,driver_delivery_speed,store";

async fn importing_the_same_file_twice_changes_nothing(db: TestDb) {
    let store = db.open().await;
    let file = format!(
        "{HEADER}\n\
         r1,C1,2026-03-04T10:15:00Z,rel,delivery,logistics,smb,email,9,5,6,yes,fine,SO-1,4,Leeds\n\
         r2,C2,2026-03-05T10:15:00+02:00,rel,delivery,logistics,smb,email,3,2,2,no,,SO-2,1,\n"
    );
    let first = import_text(&*store, ImportKind::Responses, &file)
        .await
        .unwrap();
    assert_eq!(
        (
            first.rows_read,
            first.written.inserted,
            first.rejected.len()
        ),
        (2, 2, 0)
    );
    let before = store.backend().rollup_cells().await.unwrap();
    let second = import_text(&*store, ImportKind::Responses, &file)
        .await
        .unwrap();
    assert_eq!(
        (
            second.written.unchanged,
            second.written.inserted,
            second.written.replaced
        ),
        (2, 0, 0)
    );
    assert_eq!(store.backend().rollup_cells().await.unwrap(), before);
    assert_eq!(store.counts().await.unwrap().responses, 2);
}

async fn a_changed_row_replaces_the_old_one_in_raw_data_and_rollups(db: TestDb) {
    let store = db.open().await;
    let v1 =
        format!("{HEADER}\nr1,C1,2026-03-04T10:15:00Z,rel,delivery,logistics,smb,email,9,,,,,,,\n");
    let v2 =
        format!("{HEADER}\nr1,C1,2026-04-04T10:15:00Z,rel,delivery,billing,smb,email,2,,,,,,,\n");
    import_text(&*store, ImportKind::Responses, &v1)
        .await
        .unwrap();
    let report = import_text(&*store, ImportKind::Responses, &v2)
        .await
        .unwrap();
    assert_eq!(report.written.replaced, 1);
    let answer = store
        .query_rollups(&CubeQuery {
            group_by: Some(GroupBy::Dimension(Dimension::Department)),
            ..Default::default()
        })
        .await
        .unwrap();
    let keys: Vec<&str> = answer.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["billing"]);
    assert_eq!(answer.overall.nps.detractors(), 1);
    assert_eq!(
        store.backend().rollup_cells().await.unwrap(),
        store.backend().rollup_cells_from_raw().await.unwrap()
    );
}

async fn rejected_rows_are_reported_by_line_and_the_rest_imported(db: TestDb) {
    let store = db.open().await;
    let file = format!(
        "{HEADER}\n\
         r1,C1,2026-03-04T10:15:00Z,rel,delivery,logistics,smb,email,9,5,6,yes,\"multi\nline, \"\"quoted\"\" ünïcödé ✓\",SO-1,4,\n\
         r2,C2,yesterday,rel,delivery,logistics,smb,email,11,5,6,maybe,,SO-2,4,\n\
         r3,C3,2026-03-04T10:15:00Z,rel,delivery\n\
         r1,C1,2026-03-04T10:15:00Z,rel,delivery,logistics,smb,email,1,5,6,yes,,SO-1,4,\n\
         r4,C4,2026-03-06T10:15:00Z,rel,delivery,logistics,smb,email,,,,,,,,\n"
    );
    let report = import_text(&*store, ImportKind::Responses, &file)
        .await
        .unwrap();
    assert_eq!(report.rows_read, 5);
    assert_eq!(report.written.inserted, 2);
    let lines: Vec<(u64, Vec<&str>)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.errors.iter().map(|e| e.field.as_str()).collect()))
        .collect();
    assert_eq!(
        lines,
        [
            (4, vec!["submitted_at", "nps", "fcr"]),
            (5, vec!["row"]),
            (6, vec!["external_id"])
        ]
    );
    assert!(
        report.rejected[2]
            .to_string()
            .contains("already appeared on line 2"),
        "{}",
        report.rejected[2]
    );
    // The quoted field with a newline, quotes, a comma and UTF-8 round-trips.
    let r1 = store.response("r1").await.unwrap().unwrap();
    assert_eq!(
        r1.comment.as_deref(),
        Some("multi\nline, \"quoted\" ünïcödé ✓")
    );
    assert_eq!(r1.drivers.get("delivery_speed"), Some(&4));
    let cells = store.backend().rollup_cells().await.unwrap();
    assert_eq!(cells.iter().map(|c| c.2.nps.n()).sum::<i64>(), 1);
}

/// Line numbers must be right for Windows (CRLF) files, blank lines, rows
/// with quoted newlines, and a last line without a newline.
async fn line_numbers_survive_crlf_blank_lines_and_quoted_newlines(db: TestDb) {
    for eol in ["\n", "\r\n"] {
        let db = TestDb::new(db.engine()).await.unwrap();
        let store = db.open().await;
        let lines = [
            "external_id,submitted_at,nps,comment", // 1
            "r1,2026-01-01T00:00:00Z,9,\"two",      // 2
            "lines\"",                              // 3
            "",                                     // 4 (blank)
            "r2,2026-01-01T00:00:00Z,11,",          // 5
            "r3,2026-01-01T00:00:00Z,7,fine",       // 6
            "r4,not-a-time,7,",                     // 7 (no newline after it)
        ];
        let file = lines.join(eol);
        let report = import_text(&*store, ImportKind::Responses, &file)
            .await
            .unwrap();
        let got: Vec<(u64, &str)> = report
            .rejected
            .iter()
            .map(|r| (r.line, r.errors[0].field.as_str()))
            .collect();
        assert_eq!(got, [(5, "nps"), (7, "submitted_at")], "eol {eol:?}");
        assert_eq!(
            (report.rows_read, report.written.inserted),
            (4, 2),
            "eol {eol:?}"
        );
        let r1 = store.response("r1").await.unwrap().unwrap();
        assert_eq!(
            r1.comment.as_deref(),
            Some(format!("two{eol}lines").as_str())
        );
        assert_eq!(
            store
                .response("r3")
                .await
                .unwrap()
                .unwrap()
                .comment
                .as_deref(),
            Some("fine")
        );
    }
}

async fn an_unclosed_quote_is_reported_with_the_lines_it_swallowed(db: TestDb) {
    let store = db.open().await;
    // The quote opened in the comment column of line 2 is never closed, so
    // the reader takes the rest of the file as that one cell.
    let file = "external_id,submitted_at,comment,nps\nr1,2026-01-01T00:00:00Z,\"oops,9\nr2,2026-01-01T00:00:00Z,,9\nr3,2026-01-01T00:00:00Z,ok,9\n";
    let report = import_text(&*store, ImportKind::Responses, file)
        .await
        .unwrap();
    assert_eq!(report.rejected.len(), 1);
    let message = report.rejected[0].to_string();
    assert!(
        message.starts_with("2: row: lines 2–4 were read as one row of 3 fields"),
        "{message}"
    );
    assert!(
        message.contains("quoted field is probably not closed"),
        "{message}"
    );
}

async fn a_bad_header_imports_nothing_and_names_the_column(db: TestDb) {
    let store = db.open().await;
    let err = import_text(&*store, ImportKind::Responses, "external_id,nps\nr1,9\n")
        .await
        .unwrap_err();
    match err {
        ImportError::Header(errors) => assert_eq!(errors[0].field, "submitted_at"),
        other => panic!("unexpected {other}"),
    }
    assert!(matches!(
        import_text(&*store, ImportKind::Responses, "").await,
        Err(ImportError::Empty)
    ));
    assert_eq!(store.counts().await.unwrap().responses, 0);
}

async fn customers_and_operations_import_idempotently(db: TestDb) {
    let store = db.open().await;
    let customers = "customer_id,segment,region,annual_value,churned\nC1,smb,north,1200,no\nC2,enterprise,south,90000,yes\nC3,smb,north,-5,no\n";
    let r = import_text(&*store, ImportKind::Customers, customers)
        .await
        .unwrap();
    assert_eq!(
        (r.written.inserted, r.rejected.len(), r.rejected[0].line),
        (2, 1, 4)
    );
    let again = import_text(&*store, ImportKind::Customers, customers)
        .await
        .unwrap();
    assert_eq!(again.written.unchanged, 2);

    let ops = "order_id,customer_id,department,delivered_at,delivery_days,target_days\nSO-1,C1,logistics,2026-03-04T10:00:00Z,4,5\nSO-2,C2,logistics,2026-03-05T10:00:00Z,2.5,5\n";
    let r = import_text(&*store, ImportKind::Operations, ops)
        .await
        .unwrap();
    assert_eq!(r.written.inserted, 2);
    let changed = ops.replace("2.5,5", "3.5,5");
    let r = import_text(&*store, ImportKind::Operations, &changed)
        .await
        .unwrap();
    assert_eq!((r.written.unchanged, r.written.replaced), (1, 1));
    assert_eq!(store.counts().await.unwrap().operations, 2);
}

mod round_trip {
    use northstar_store::import::ImportKind;
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    use crate::{Engine, import_text, on_fresh_db};

    /// Any UTF-8 text (commas, quotes, newlines, emoji) written by a CSV
    /// writer comes back unchanged from the store.
    fn any_text_round_trips(engine: Engine, comments: Vec<String>) -> Result<(), TestCaseError> {
        on_fresh_db(engine, |db| async move {
            let store = db.open().await;
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(["external_id", "submitted_at", "comment", "note"])
                .unwrap();
            for (i, c) in comments.iter().enumerate() {
                w.write_record([format!("r{i}").as_str(), "2026-01-01T00:00:00Z", c, c])
                    .unwrap();
            }
            let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
            let report = import_text(&*store, ImportKind::Responses, &text)
                .await
                .unwrap();
            prop_assert!(report.rejected.is_empty(), "{:?}", report.rejected);
            for (i, c) in comments.iter().enumerate() {
                let r = store.response(&format!("r{i}")).await.unwrap().unwrap();
                // Surrounding whitespace is trimmed; an all-blank cell is "not answered".
                let expected = Some(c.trim()).filter(|t| !t.is_empty());
                prop_assert_eq!(r.comment.as_deref(), expected);
                prop_assert_eq!(r.attributes.get("note").map(String::as_str), expected);
            }
            Ok(())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        #[test]
        fn any_text_round_trips_on_sqlite(comments in prop::collection::vec("\\PC*(,|\"|\n|\r\n)?\\PC*", 1..8)) {
            any_text_round_trips(Engine::Sqlite, comments)?;
        }

        #[test]
        fn any_text_round_trips_on_postgres(comments in prop::collection::vec("\\PC*(,|\"|\n|\r\n)?\\PC*", 1..8)) {
            any_text_round_trips(Engine::Postgres, comments)?;
        }
    }
}

/// A batch the store refuses still has its rejected rows reported and
/// counted (they used to be dropped with the failing batch).
async fn rejected_rows_survive_a_store_error(db: TestDb) {
    let store = db.open().await;
    let mut text = String::from("external_id,submitted_at,department,nps\nbad,yesterday,d,9\n");
    for i in 0..=northstar_store::MAX_DISTINCT_VALUES {
        text.push_str(&format!("r{i},2026-01-01T00:00:00Z,dept{i},9\n"));
    }
    let cursor = std::io::Cursor::new(text.into_bytes());
    let failure =
        northstar_store::import::import_csv(&*store, ImportKind::Responses, cursor, &mut ())
            .await
            .unwrap_err();
    assert!(
        failure.error.to_string().contains("distinct values"),
        "{}",
        failure.error
    );
    assert_eq!(failure.report.rejected_rows, 1);
    assert_eq!(failure.report.rejected[0].line, 2);
    assert_eq!(failure.report.written.accepted(), 0);
}

async fn operations_count_rows_and_measures_and_report_repeats(db: TestDb) {
    let store = db.open().await;
    let report = import_text(
        &*store,
        ImportKind::Operations,
        "order_id,department,delivery_days,target_days,measure_touches\n\
         SO-1,logistics,4,5,2\n\
         SO-2,logistics,3,5,\n\
         SO-1,logistics,6,5,\n",
    )
    .await
    .unwrap();
    assert_eq!(report.rows_read, 3);
    assert_eq!(report.rows_accepted, 2);
    assert_eq!(report.written.inserted, 3, "three measures from two rows");
    assert_eq!(report.rejected_rows, 1);
    assert_eq!(report.rejected[0].line, 4);
    assert!(
        report.rejected[0].errors[0]
            .problem
            .contains("already appeared on line 2"),
        "{:?}",
        report.rejected
    );
}

async fn headers_ignore_case_and_lookalikes_are_warned_about(db: TestDb) {
    let store = db.open().await;
    let report = import_text(
        &*store,
        ImportKind::Responses,
        " External_ID ,SUBMITTED_AT,NPS Score,Nps\nr1,2026-01-01T00:00:00Z,high,9\n",
    )
    .await
    .unwrap();
    assert_eq!(report.written.inserted, 1);
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.warnings[0].field, "NPS Score");
    let r = store.response("r1").await.unwrap().unwrap();
    assert_eq!(r.nps, Some(9));
    assert_eq!(r.attributes["NPS Score"], "high");
}

/// The in-memory parser the fuzz targets drive is the import's own.
#[test]
fn parse_csv_reports_like_an_import() {
    use northstar_store::import::parse_csv;
    let parsed = parse_csv(
        ImportKind::Responses,
        b"external_id,submitted_at,nps,NPS Score\r\nr1,2026-01-01T00:00:00Z,9,x\r\nr2,yesterday,9,\r\nr1,2026-01-01T00:00:00Z,9,\r\n",
    )
    .unwrap();
    assert_eq!(
        (parsed.rows_read, parsed.rows_accepted, parsed.records),
        (3, 1, 1)
    );
    let lines: Vec<u64> = parsed.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4]);
    assert_eq!(parsed.warnings.len(), 1);
    assert!(matches!(
        parse_csv(ImportKind::Customers, b""),
        Err(northstar_store::import::ImportError::Empty)
    ));
}

/// Found by `cargo fuzz run csv_import`: a quote that opens a field right
/// before the final newline (`…,"\n`) was taken for a closing one, and the
/// rejected row was reported on line 1, the header.
#[test]
fn an_opening_quote_before_the_last_newline_is_reported_on_its_own_line() {
    use northstar_store::import::parse_csv;
    for file in [
        &b"order_id,department,delivery_days,target_days\nSO-0,logistics,4,5,\"\n"[..],
        &b"order_id,department,delivery_days,target_days\r\nSO-0,logistics,4,5,\"\r\n"[..],
    ] {
        let parsed = parse_csv(ImportKind::Operations, file).unwrap();
        assert_eq!(parsed.rejected.len(), 1, "{parsed:?}");
        assert_eq!(parsed.rejected[0].line, 2, "{parsed:?}");
    }
    // A closed quoted field that ends in a newline still ends the record.
    let parsed = parse_csv(
        ImportKind::Responses,
        b"external_id,submitted_at,comment\nr1,2026-01-01T00:00:00Z,\"two\nlines\n\"\n",
    )
    .unwrap();
    assert_eq!(
        (parsed.records, parsed.rejected.len()),
        (1, 0),
        "{parsed:?}"
    );
    // The fuzzer's own input.
    let crash = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/fuzz_regressions/csv_import_line_1.bin"
    ))
    .unwrap();
    // Its header holds a NUL character: refused as a header, or its rows
    // reported from line 2 on.
    match parse_csv(ImportKind::Operations, &crash[1..]) {
        Ok(parsed) => assert!(parsed.rejected.iter().all(|r| r.line >= 2), "{parsed:?}"),
        Err(e) => assert!(format!("{e:?}").contains("NUL"), "{e:?}"),
    }
}

crate::conformance!(
    importing_the_same_file_twice_changes_nothing,
    a_changed_row_replaces_the_old_one_in_raw_data_and_rollups,
    rejected_rows_are_reported_by_line_and_the_rest_imported,
    line_numbers_survive_crlf_blank_lines_and_quoted_newlines,
    an_unclosed_quote_is_reported_with_the_lines_it_swallowed,
    a_bad_header_imports_nothing_and_names_the_column,
    customers_and_operations_import_idempotently,
    rejected_rows_survive_a_store_error,
    operations_count_rows_and_measures_and_report_repeats,
    headers_ignore_case_and_lookalikes_are_warned_about,
);
