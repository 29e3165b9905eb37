//! The JSON batch decoder of `POST /api/v1/responses` on arbitrary bytes: it
//! must never panic, never return more than the item cap, and every object it
//! returns stays within the field cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use northstar_server::api::batch::{MAX_BATCH, RawItem, decode_batch};

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = decode_batch(data) {
        assert!(items.len() <= MAX_BATCH);
        for item in &items {
            if let RawItem::Object(fields) = item {
                assert!(fields.len() <= northstar_core::field::MAX_COLUMNS);
            }
        }
    }
});
