//! The CSV import parser on arbitrary bytes: the first byte picks the file
//! kind (responses, customers, operations), the rest is the file. It must
//! never panic, and every row it reads is either accepted or rejected with
//! a line number inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use northstar_store::import::{ImportKind, parse_csv};

fuzz_target!(|data: &[u8]| {
    let Some((&first, file)) = data.split_first() else {
        return;
    };
    let kind = match first % 3 {
        0 => ImportKind::Responses,
        1 => ImportKind::Customers,
        _ => ImportKind::Operations,
    };
    if let Ok(parsed) = parse_csv(kind, file) {
        let lines = file.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        assert!(parsed.rows_accepted + parsed.rejected.len() as u64 <= parsed.rows_read);
        for row in &parsed.rejected {
            assert!(row.line >= 2 && row.line <= lines, "line {} of {lines}", row.line);
            assert!(!row.errors.is_empty());
        }
    }
});
