//! Streaming decoder for `POST /api/v1/responses`: the JSON array is read
//! item by item and stops at the first item past [`MAX_BATCH`], so memory
//! follows what is accepted, never what a body claims (a 64 MiB body of
//! `[0,0,…]` used to become 33 million parsed values before the cap was
//! checked). An item is a flat object of scalars; nested lists or objects are
//! skipped without being built and reported as that item's error.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use northstar_core::field::MAX_COLUMNS;

/// Largest batch accepted in one request.
pub const MAX_BATCH: usize = 10_000;

/// One field value as sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    /// A JSON number, as written by serde_json (e.g. `9`, `4.5`).
    Number(String),
    Bool(bool),
    /// A list or an object, which no field may hold; not kept.
    Nested(&'static str),
}

/// One item of the array.
#[derive(Debug, Clone, PartialEq)]
pub enum RawItem {
    /// An object: its fields in order (at most [`MAX_COLUMNS`]).
    Object(Vec<(String, Cell)>),
    /// An object with more than [`MAX_COLUMNS`] fields (the rest skipped).
    TooManyFields(usize),
    /// Not an object: what it was.
    NotObject(&'static str),
}

/// Why a body is not a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("more than {MAX_BATCH} items; split the batch into requests of at most {MAX_BATCH}")]
    TooManyItems,
    #[error("not valid JSON: {0}")]
    Json(String),
}

struct CellVisitor;

impl<'de> Visitor<'de> for CellVisitor {
    type Value = Cell;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number, boolean or null")
    }
    fn visit_unit<E>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_none<E>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Cell, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Cell, E> {
        Ok(Cell::Number(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Cell, E> {
        Ok(Cell::Number(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Cell, E> {
        Ok(Cell::Number(
            serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string()),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cell, E> {
        Ok(Cell::Text(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Cell, E> {
        Ok(Cell::Text(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Cell::Nested("a list"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Cell::Nested("an object"))
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CellVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = RawItem;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a response object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawItem, A::Error> {
        let mut fields = Vec::new();
        let mut count = 0usize;
        while let Some(key) = map.next_key::<String>()? {
            count += 1;
            if count > MAX_COLUMNS {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            fields.push((key, map.next_value::<Cell>()?));
        }
        Ok(if count > MAX_COLUMNS {
            RawItem::TooManyFields(count)
        } else {
            RawItem::Object(fields)
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawItem, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawItem::NotObject("a list"))
    }
    fn visit_unit<E>(self) -> Result<RawItem, E> {
        Ok(RawItem::NotObject("null"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<RawItem, E> {
        Ok(RawItem::NotObject("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<RawItem, E> {
        Ok(RawItem::NotObject("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<RawItem, E> {
        Ok(RawItem::NotObject("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<RawItem, E> {
        Ok(RawItem::NotObject("a number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<RawItem, E> {
        Ok(RawItem::NotObject("a string"))
    }
}

impl<'de> Deserialize<'de> for RawItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemVisitor)
    }
}

/// The marker the array visitor fails with at item `MAX_BATCH + 1`.
const TOO_MANY: &str = "northstar: too many items";

struct BatchVisitor;

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = Vec<RawItem>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of response objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_BATCH));
        while let Some(item) = seq.next_element::<RawItem>()? {
            if items.len() == MAX_BATCH {
                return Err(de::Error::custom(TOO_MANY));
            }
            items.push(item);
        }
        Ok(items)
    }
}

/// Decodes a batch body; stops at item [`MAX_BATCH`] + 1.
pub fn decode_batch(body: &[u8]) -> Result<Vec<RawItem>, BatchError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let items = de.deserialize_seq(BatchVisitor).map_err(|e| {
        if e.to_string().starts_with(TOO_MANY) {
            BatchError::TooManyItems
        } else {
            BatchError::Json(e.to_string())
        }
    })?;
    de.end().map_err(|e| BatchError::Json(e.to_string()))?;
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_flat_objects_and_nesting_is_skipped() {
        let items = decode_batch(
            br#"[{"a": 1, "b": "x", "c": null, "d": true, "e": 4.5, "f": [1, [2]], "g": {"h": 1}}, 7, [1], "s", null]"#,
        )
        .unwrap();
        assert_eq!(
            items[0],
            RawItem::Object(vec![
                ("a".into(), Cell::Number("1".into())),
                ("b".into(), Cell::Text("x".into())),
                ("c".into(), Cell::Null),
                ("d".into(), Cell::Bool(true)),
                ("e".into(), Cell::Number("4.5".into())),
                ("f".into(), Cell::Nested("a list")),
                ("g".into(), Cell::Nested("an object")),
            ])
        );
        assert_eq!(
            &items[1..],
            [
                RawItem::NotObject("a number"),
                RawItem::NotObject("a list"),
                RawItem::NotObject("a string"),
                RawItem::NotObject("null"),
            ]
        );
    }

    #[test]
    fn the_item_cap_stops_decoding() {
        let at_cap = format!("[{}]", vec!["0"; MAX_BATCH].join(","));
        assert_eq!(decode_batch(at_cap.as_bytes()).unwrap().len(), MAX_BATCH);
        // Past the cap the decoder stops there: the rest is not even valid JSON.
        let past = format!("[{},0,this is never read", vec!["0"; MAX_BATCH].join(","));
        assert_eq!(decode_batch(past.as_bytes()), Err(BatchError::TooManyItems));
    }

    #[test]
    fn objects_with_too_many_fields_are_marked_not_kept() {
        let fields: Vec<String> = (0..=MAX_COLUMNS)
            .map(|i| format!("\"f{i}\": {i}"))
            .collect();
        let body = format!("[{{{}}}]", fields.join(","));
        assert_eq!(
            decode_batch(body.as_bytes()).unwrap(),
            [RawItem::TooManyFields(MAX_COLUMNS + 1)]
        );
    }

    #[test]
    fn bad_json_and_non_arrays_are_errors() {
        assert!(matches!(decode_batch(b"{}"), Err(BatchError::Json(_))));
        assert!(matches!(decode_batch(b"[1,"), Err(BatchError::Json(_))));
        assert!(matches!(decode_batch(b"[] x"), Err(BatchError::Json(_))));
        assert_eq!(decode_batch(b" [] ").unwrap(), []);
    }
}
