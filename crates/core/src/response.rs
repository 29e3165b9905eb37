//! A survey response as imported: the columns a file or API batch may carry
//! and the validation every import path shares.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::calendar::{self, Day};
use crate::dimension::{Dimension, DimensionValues};
use crate::field::{self, ATTRIBUTE_LIMIT, COMMENT_LIMIT, DIMENSION_LIMIT, FieldError, ID_LIMIT};
use crate::header;
use crate::summary::{Mergeable, ResponseSummary};

/// A validated response, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewResponse {
    pub external_id: String,
    pub customer_id: Option<String>,
    /// The timestamp as given (RFC 3339, any offset).
    pub submitted_at: String,
    /// The same instant as seconds since the Unix epoch.
    pub submitted_unix: i64,
    pub dimensions: DimensionValues,
    pub nps: Option<u8>,
    pub csat: Option<u8>,
    pub ces: Option<u8>,
    pub fcr: Option<bool>,
    pub comment: Option<String>,
    pub order_id: Option<String>,
    /// `driver_<name>` ratings, 1–5, by name.
    pub drivers: BTreeMap<String, u8>,
    /// Columns Northstar does not know, kept as given.
    pub attributes: BTreeMap<String, String>,
}

impl NewResponse {
    /// The day the response was submitted, in the organisation's time
    /// zone (see [`calendar::day_in`]).
    pub fn day_in(&self, zone: &jiff::tz::TimeZone) -> Day {
        calendar::day_in(self.submitted_unix, zone)
    }

    /// This response's contribution to a rollup cell.
    pub fn summary(&self) -> ResponseSummary {
        let mut s = ResponseSummary::empty();
        s.add_answers(self.nps, self.csat, self.ces, self.fcr);
        s
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    ExternalId,
    CustomerId,
    SubmittedAt,
    Dimension(Dimension),
    Nps,
    Csat,
    Ces,
    Fcr,
    Comment,
    OrderId,
    Driver(String),
    Attribute(String),
}

impl Column {
    /// `name` is normalized (trimmed, lower-case); `shown` as given.
    fn parse(name: &str, shown: &str) -> Result<Self, FieldError> {
        Ok(match name {
            "external_id" => Column::ExternalId,
            "customer_id" => Column::CustomerId,
            "submitted_at" => Column::SubmittedAt,
            "nps" => Column::Nps,
            "csat" => Column::Csat,
            "ces" => Column::Ces,
            "fcr" => Column::Fcr,
            "comment" => Column::Comment,
            "order_id" => Column::OrderId,
            other => {
                if let Some(d) = Dimension::parse(other) {
                    Column::Dimension(d)
                } else if let Some(driver) = other.strip_prefix("driver_") {
                    if !field::is_identifier(driver) {
                        return Err(FieldError::new(
                            shown,
                            "is not a valid driver column name",
                            "name driver columns driver_<name> with lower-case letters, digits and _, like driver_delivery_speed",
                        ));
                    }
                    Column::Driver(driver.to_string())
                } else {
                    Column::Attribute(shown.to_string())
                }
            }
        })
    }
}

/// Column names that every responses file must have.
pub const REQUIRED_COLUMNS: [&str; 2] = ["external_id", "submitted_at"];

/// Every column name a responses file may use besides `driver_<name>`.
pub const KNOWN_COLUMNS: [&str; 9 + Dimension::COUNT] = {
    let before = ["external_id", "customer_id", "submitted_at"];
    let after = ["nps", "csat", "ces", "fcr", "comment", "order_id"];
    let mut out = [""; 9 + Dimension::COUNT];
    let mut i = 0;
    while i < out.len() {
        out[i] = if i < before.len() {
            before[i]
        } else if i < before.len() + Dimension::COUNT {
            Dimension::ALL[i - before.len()].as_str()
        } else {
            after[i - before.len() - Dimension::COUNT]
        };
        i += 1;
    }
    out
};

/// The layout of a responses file or batch item, resolved once per header.
#[derive(Debug, Clone)]
pub struct ResponseColumns {
    columns: Vec<Column>,
    warnings: Vec<FieldError>,
}

impl ResponseColumns {
    /// Resolves header names (in any order, ignoring case and surrounding
    /// space; unknown ones are kept as attributes, with a warning when they
    /// look like a known column).
    pub fn from_header<S: AsRef<str>>(header: &[S]) -> Result<Self, Vec<FieldError>> {
        let shown: Vec<&str> = header.iter().map(|h| header::clean(h.as_ref())).collect();
        let names = header::check(&shown, &REQUIRED_COLUMNS)?;
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut columns = Vec::with_capacity(names.len());
        for (name, shown) in names.iter().zip(&shown) {
            match Column::parse(name, shown) {
                Ok(c) => {
                    if matches!(c, Column::Attribute(_))
                        && let Some(w) = header::lookalike(shown, &KNOWN_COLUMNS)
                    {
                        warnings.push(w);
                    }
                    columns.push(c);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(Self { columns, warnings })
        } else {
            Err(errors)
        }
    }

    /// Columns kept as attributes that look like known columns.
    pub fn warnings(&self) -> &[FieldError] {
        &self.warnings
    }

    /// Number of columns a row must have.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True for a header with no columns (never, after `from_header`).
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Validates one row; every field error is reported, not just the first.
    pub fn parse_row<S: AsRef<str>>(&self, cells: &[S]) -> Result<NewResponse, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut external_id = None;
        let mut submitted = None;
        let mut r = NewResponse {
            external_id: String::new(),
            customer_id: None,
            submitted_at: String::new(),
            submitted_unix: 0,
            dimensions: DimensionValues::default(),
            nps: None,
            csat: None,
            ces: None,
            fcr: None,
            comment: None,
            order_id: None,
            drivers: BTreeMap::new(),
            attributes: BTreeMap::new(),
        };
        for (column, cell) in self.columns.iter().zip(cells) {
            let raw = cell.as_ref();
            let result: Result<(), FieldError> = match column {
                Column::ExternalId => field::required(
                    "external_id",
                    raw,
                    "the survey tool's response id",
                    ID_LIMIT,
                )
                .map(|v| external_id = Some(v.to_string())),
                Column::SubmittedAt => field::timestamp("submitted_at", raw).map(|ts| {
                    submitted = ts.map(|ts| {
                        (
                            field::non_empty(raw).unwrap_or_default().to_string(),
                            ts.as_second(),
                        )
                    });
                }),
                Column::CustomerId => {
                    field::text("customer_id", raw, ID_LIMIT).map(|v| r.customer_id = v)
                }
                Column::Dimension(d) => field::text(d.as_str(), raw, DIMENSION_LIMIT)
                    .map(|v| r.dimensions.set(*d, v.unwrap_or_default())),
                Column::Nps => field::score("nps", raw, 0, 10).map(|v| r.nps = v),
                Column::Csat => field::score("csat", raw, 1, 5).map(|v| r.csat = v),
                Column::Ces => field::score("ces", raw, 1, 7).map(|v| r.ces = v),
                Column::Fcr => field::yes_no("fcr", raw).map(|v| r.fcr = v),
                Column::Comment => {
                    field::text("comment", raw, COMMENT_LIMIT).map(|v| r.comment = v)
                }
                Column::OrderId => field::text("order_id", raw, ID_LIMIT).map(|v| r.order_id = v),
                Column::Driver(name) => {
                    field::score(&format!("driver_{name}"), raw, 1, 5).map(|v| {
                        if let Some(v) = v {
                            r.drivers.insert(name.clone(), v);
                        }
                    })
                }
                Column::Attribute(name) => field::text(name, raw, ATTRIBUTE_LIMIT).map(|v| {
                    if let Some(v) = v {
                        r.attributes.insert(name.clone(), v);
                    }
                }),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        match (external_id, submitted) {
            (Some(id), Some((text, unix))) if errors.is_empty() => {
                r.external_id = id;
                r.submitted_at = text;
                r.submitted_unix = unix;
                Ok(r)
            }
            (_, submitted) => {
                if submitted.is_none() && !errors.iter().any(|e| e.field == "submitted_at") {
                    errors.push(FieldError::new(
                        "submitted_at",
                        "is empty",
                        "every response needs the time it was submitted, like 2026-03-04T10:15:00Z",
                    ));
                }
                Err(errors)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(h: &str) -> ResponseColumns {
        ResponseColumns::from_header(&h.split(',').collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn a_full_row_parses_in_any_column_order() {
        let c = columns("nps,submitted_at,external_id,department,driver_delivery_speed,store,fcr");
        let r = c
            .parse_row(&[
                "9",
                "2026-03-04T10:15:00+01:00",
                "r1",
                "logistics",
                "4",
                "Leeds",
                "yes",
            ])
            .unwrap();
        assert_eq!(r.external_id, "r1");
        assert_eq!(r.nps, Some(9));
        assert_eq!(r.fcr, Some(true));
        assert_eq!(r.dimensions.get(Dimension::Department), "logistics");
        assert_eq!(r.drivers.get("delivery_speed"), Some(&4));
        assert_eq!(r.attributes.get("store").map(String::as_str), Some("Leeds"));
        assert_eq!(r.submitted_unix, 1_772_615_700);
    }

    #[test]
    fn empty_cells_mean_not_answered() {
        let c = columns("external_id,submitted_at,nps,csat,driver_x");
        let r = c
            .parse_row(&["r1", "2026-03-04T10:15:00Z", "", " ", ""])
            .unwrap();
        assert_eq!((r.nps, r.csat), (None, None));
        assert!(r.drivers.is_empty());
    }

    #[test]
    fn every_bad_field_is_reported() {
        let c = columns("external_id,submitted_at,nps,csat,ces,fcr");
        let errors = c
            .parse_row(&["", "yesterday", "11", "0", "8", "maybe"])
            .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["external_id", "submitted_at", "nps", "csat", "ces", "fcr"]
        );
    }

    #[test]
    fn headers_must_have_the_required_columns_once() {
        let missing = ResponseColumns::from_header(&["external_id", "nps"]).unwrap_err();
        assert_eq!(missing[0].field, "submitted_at");
        let dup = ResponseColumns::from_header(&["external_id", "submitted_at", "nps", "nps"])
            .unwrap_err();
        assert!(dup[0].problem.contains("more than once"));
        let bad = ResponseColumns::from_header(&["external_id", "submitted_at", "driver_Bad Name"])
            .unwrap_err();
        assert_eq!(bad[0].field, "driver_Bad Name");
        assert!(ResponseColumns::from_header(&["\u{feff}external_id", " submitted_at "]).is_ok());
    }

    #[test]
    fn headers_match_ignoring_case_and_lookalikes_warn() {
        let c = columns("External_ID, Submitted_At ,NPS,NPS Score,Driver_Speed");
        assert!(
            c.warnings().iter().any(|w| w.field == "NPS Score"),
            "{:?}",
            c.warnings()
        );
        assert_eq!(c.warnings().len(), 1);
        let r = c
            .parse_row(&["r1", "2026-03-04T10:15:00Z", "9", "high", "4"])
            .unwrap();
        assert_eq!(r.nps, Some(9));
        assert_eq!(r.attributes["NPS Score"], "high");
        assert_eq!(r.drivers["speed"], 4);
    }

    #[test]
    fn every_string_is_bounded() {
        let c = columns("external_id,submitted_at,department,comment,note,customer_id,order_id");
        let ok = ["r1", "2026-03-04T10:15:00Z", "d", "c", "n", "c1", "o1"];
        assert!(c.parse_row(&ok).is_ok());
        let cases = [
            (0, 201, "external_id"),
            (2, 101, "department"),
            (3, 10_001, "comment"),
            (4, 1_001, "note"),
            (5, 201, "customer_id"),
            (6, 201, "order_id"),
        ];
        for (i, len, field) in cases {
            let mut row: Vec<String> = ok.iter().map(|s| s.to_string()).collect();
            row[i] = "x".repeat(len);
            let e = c.parse_row(&row).unwrap_err();
            assert_eq!(e[0].field, field);
            assert!(
                e[0].problem.contains(&format!("is {len} characters long")),
                "{e:?}"
            );
        }
    }
}
