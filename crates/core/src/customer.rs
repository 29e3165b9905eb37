//! A customer record, from a department's or the CRM's export.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::calendar::{self, Day};
use crate::field::{self, ATTRIBUTE_LIMIT, DIMENSION_LIMIT, FieldError, ID_LIMIT};
use crate::header;

/// A validated customer, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewCustomer {
    pub customer_id: String,
    pub segment: Option<String>,
    pub region: Option<String>,
    pub annual_value: Option<f64>,
    pub churned: Option<bool>,
    /// The UTC day the customer churned, when known: the customer base of a
    /// period leaves out customers who had churned before it began.
    pub churned_on: Option<Day>,
    /// The UTC day the customer was acquired, when known (acquisition and
    /// retention rates per period on the executive view).
    pub acquired_on: Option<Day>,
    pub attributes: BTreeMap<String, String>,
}

/// Every column name a customers file may use.
pub const KNOWN_COLUMNS: [&str; 7] = [
    "customer_id",
    "segment",
    "region",
    "annual_value",
    "churned",
    "churned_at",
    "acquired_at",
];

/// The layout of a customers file.
#[derive(Debug, Clone)]
pub struct CustomerColumns {
    /// Normalized names (known columns) or names as given (attributes).
    names: Vec<String>,
    warnings: Vec<FieldError>,
}

/// A lifecycle date (`churned_at`, `acquired_at`): `YYYY-MM-DD` or an RFC
/// 3339 timestamp (its UTC day).
fn lifecycle_day(column: &str, raw: &str) -> Result<Option<Day>, FieldError> {
    let Some(t) = field::non_empty(raw) else {
        return Ok(None);
    };
    // A bare date; jiff would also read the date part of a timestamp.
    if let Some(day) = calendar::parse_day(t).filter(|_| t.len() == 10) {
        let year = calendar::year_of_day(day);
        if (i64::from(*field::YEARS.start())..=i64::from(*field::YEARS.end())).contains(&year) {
            return Ok(Some(day));
        }
    }
    field::timestamp(column, t)
        .map(|ts| ts.map(calendar::day_of_timestamp))
        .map_err(|_| {
            FieldError::new(
                column,
                format!("{t:?} is not a date from 1970 to 2099"),
                "write it as YYYY-MM-DD, like 2026-03-04, or as an RFC 3339 timestamp",
            )
        })
}

impl CustomerColumns {
    pub fn from_header<S: AsRef<str>>(header: &[S]) -> Result<Self, Vec<FieldError>> {
        let shown: Vec<&str> = header.iter().map(|h| header::clean(h.as_ref())).collect();
        let normalized = header::check(&shown, &["customer_id"])?;
        let mut warnings = Vec::new();
        let names = normalized
            .into_iter()
            .zip(&shown)
            .map(|(n, shown)| {
                if KNOWN_COLUMNS.contains(&n.as_str()) {
                    n
                } else {
                    warnings.extend(header::lookalike(shown, &KNOWN_COLUMNS));
                    shown.to_string()
                }
            })
            .collect();
        Ok(Self { names, warnings })
    }

    /// Columns kept as attributes that look like known columns.
    pub fn warnings(&self) -> &[FieldError] {
        &self.warnings
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn parse_row<S: AsRef<str>>(&self, cells: &[S]) -> Result<NewCustomer, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut c = NewCustomer {
            customer_id: String::new(),
            segment: None,
            region: None,
            annual_value: None,
            churned: None,
            churned_on: None,
            acquired_on: None,
            attributes: BTreeMap::new(),
        };
        for (name, cell) in self.names.iter().zip(cells) {
            let raw = cell.as_ref();
            let result = match name.as_str() {
                "customer_id" => field::required("customer_id", raw, "C-1042", ID_LIMIT)
                    .map(|v| c.customer_id = v.to_string()),
                "segment" => field::text("segment", raw, DIMENSION_LIMIT).map(|v| c.segment = v),
                "region" => field::text("region", raw, DIMENSION_LIMIT).map(|v| c.region = v),
                "annual_value" => {
                    field::number("annual_value", raw, Some(0.0)).map(|v| c.annual_value = v)
                }
                "churned" => field::yes_no("churned", raw).map(|v| c.churned = v),
                "churned_at" => lifecycle_day("churned_at", raw).map(|v| c.churned_on = v),
                "acquired_at" => lifecycle_day("acquired_at", raw).map(|v| c.acquired_on = v),
                other => field::text(other, raw, ATTRIBUTE_LIMIT).map(|v| {
                    if let Some(v) = v {
                        c.attributes.insert(other.to_string(), v);
                    }
                }),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        match (c.churned, c.churned_on) {
            (Some(false), Some(_)) => errors.push(FieldError::new(
                "churned_at",
                "is given but churned is no",
                "leave churned_at empty for customers who have not churned, or set churned to yes",
            )),
            (None, Some(_)) => c.churned = Some(true),
            _ => {}
        }
        if let (Some(a), Some(ch)) = (c.acquired_on, c.churned_on)
            && ch < a
        {
            errors.push(FieldError::new(
                "churned_at",
                "is before acquired_at",
                "a customer churns after it was acquired; check both dates",
            ));
        }
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_validate_value_and_churn() {
        let cols = CustomerColumns::from_header(&[
            "customer_id",
            "segment",
            "annual_value",
            "churned",
            "tier",
        ])
        .unwrap();
        let c = cols
            .parse_row(&["C1", "smb", "1200.50", "no", "gold"])
            .unwrap();
        assert_eq!(c.annual_value, Some(1200.5));
        assert_eq!(c.churned, Some(false));
        assert_eq!(c.attributes["tier"], "gold");
        let e = cols
            .parse_row(&["", "smb", "-3", "perhaps", ""])
            .unwrap_err();
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn churn_dates_imply_churn() {
        let cols = CustomerColumns::from_header(&["Customer_ID", "Churned", "churned_at"]).unwrap();
        let c = cols.parse_row(&["C1", "", "2026-03-04"]).unwrap();
        assert_eq!(c.churned, Some(true));
        assert_eq!(c.churned_on, calendar::parse_day("2026-03-04"));
        let c = cols
            .parse_row(&["C1", "yes", "2026-03-04T23:00:00-05:00"])
            .unwrap();
        assert_eq!(c.churned_on, calendar::parse_day("2026-03-05"));
        assert!(cols.parse_row(&["C1", "no", "2026-03-04"]).is_err());
        assert!(cols.parse_row(&["C1", "", "1900-01-01"]).is_err());
    }
}
