//! Operational records a department keeps (deliveries, tickets, invoices):
//! one measured value per record and measure, with the department's target.
//!
//! A column is a measure when it is named `measure_<name>`, or when a
//! `target_<unit>` column matches its ending (`delivery_days` with
//! `target_days`); that column holds the measure's target.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::field::{self, ATTRIBUTE_LIMIT, DIMENSION_LIMIT, FieldError, ID_LIMIT};
use crate::header;

/// One measured value, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewOperation {
    pub department: String,
    pub order_id: String,
    pub measure: String,
    pub customer_id: Option<String>,
    /// When it happened, as given (RFC 3339).
    pub occurred_at: Option<String>,
    pub occurred_unix: Option<i64>,
    pub value: f64,
    pub target: Option<f64>,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
enum Column {
    OrderId,
    CustomerId,
    Department,
    OccurredAt,
    Measure(String),
    Target,
    Attribute(String),
}

/// The layout of an operations file.
#[derive(Debug, Clone)]
pub struct OperationColumns {
    names: Vec<String>,
    columns: Vec<Column>,
    /// For each measure column index, the index of its target column.
    targets: BTreeMap<usize, usize>,
    warnings: Vec<FieldError>,
}

/// The column names of an operations file other than measures and targets.
pub const KNOWN_COLUMNS: [&str; 5] = [
    "order_id",
    "customer_id",
    "department",
    "delivered_at",
    "occurred_at",
];

impl OperationColumns {
    pub fn from_header<S: AsRef<str>>(header: &[S]) -> Result<Self, Vec<FieldError>> {
        let shown: Vec<&str> = header.iter().map(|h| header::clean(h.as_ref())).collect();
        let normalized = header::check(&shown, &["order_id", "department"])?;
        let names: Vec<&str> = normalized.iter().map(String::as_str).collect();
        let target_units: Vec<(usize, &str)> = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.strip_prefix("target_").map(|u| (i, u)))
            .collect();
        let mut columns = Vec::new();
        let mut targets = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            let column = match *name {
                "order_id" => Column::OrderId,
                "customer_id" => Column::CustomerId,
                "department" => Column::Department,
                "delivered_at" | "occurred_at" => Column::OccurredAt,
                n if n.starts_with("target_") => Column::Target,
                n => {
                    let measure = n.strip_prefix("measure_");
                    let unit_target = target_units.iter().find(|(_, unit)| {
                        measure.unwrap_or(n) == *unit || n.ends_with(&format!("_{unit}"))
                    });
                    match (measure, unit_target) {
                        (m, Some(&(t, _))) => {
                            targets.insert(i, t);
                            Column::Measure(m.unwrap_or(n).to_string())
                        }
                        (Some(m), None) => Column::Measure(m.to_string()),
                        (None, None) => Column::Attribute(shown[i].to_string()),
                    }
                }
            };
            columns.push(column);
        }
        if !columns.iter().any(|c| matches!(c, Column::Measure(_))) {
            return Err(vec![FieldError::new(
                "header",
                "no measure column found",
                "add a measure with its target, like delivery_days and target_days, or a measure_<name> column",
            )]);
        }
        let warnings = columns
            .iter()
            .filter_map(|c| match c {
                Column::Attribute(name) => header::lookalike(name, &KNOWN_COLUMNS),
                _ => None,
            })
            .collect();
        Ok(Self {
            warnings,
            names: names.into_iter().map(str::to_string).collect(),
            columns,
            targets,
        })
    }

    /// Columns kept as attributes that look like known columns.
    pub fn warnings(&self) -> &[FieldError] {
        &self.warnings
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Validates one row into one record per measure that has a value.
    pub fn parse_row<S: AsRef<str>>(
        &self,
        cells: &[S],
    ) -> Result<Vec<NewOperation>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let (mut order_id, mut department, mut customer_id, mut occurred) =
            (None, None, None, None);
        let mut attributes = BTreeMap::new();
        for (column, cell) in self.columns.iter().zip(cells) {
            let raw = cell.as_ref();
            match column {
                Column::OrderId => match field::required("order_id", raw, "SO-10442", ID_LIMIT) {
                    Ok(v) => order_id = Some(v.to_string()),
                    Err(e) => errors.push(e),
                },
                Column::Department => {
                    match field::required("department", raw, "logistics", DIMENSION_LIMIT) {
                        Ok(v) => department = Some(v.to_string()),
                        Err(e) => errors.push(e),
                    }
                }
                Column::CustomerId => match field::text("customer_id", raw, ID_LIMIT) {
                    Ok(v) => customer_id = v,
                    Err(e) => errors.push(e),
                },
                Column::OccurredAt => {
                    let name = self
                        .names
                        .iter()
                        .zip(&self.columns)
                        .find(|(_, c)| matches!(c, Column::OccurredAt))
                        .map(|(n, _)| n.as_str())
                        .unwrap_or("occurred_at");
                    match field::timestamp(name, raw) {
                        Ok(ts) => {
                            occurred = ts.map(|ts| {
                                (
                                    field::non_empty(raw).unwrap_or_default().to_string(),
                                    ts.as_second(),
                                )
                            })
                        }
                        Err(e) => errors.push(e),
                    }
                }
                Column::Attribute(name) => match field::text(name, raw, ATTRIBUTE_LIMIT) {
                    Ok(Some(v)) => {
                        attributes.insert(name.clone(), v);
                    }
                    Ok(None) => {}
                    Err(e) => errors.push(e),
                },
                Column::Measure(_) | Column::Target => {}
            }
        }
        let mut records = Vec::new();
        for (i, column) in self.columns.iter().enumerate() {
            let Column::Measure(measure) = column else {
                continue;
            };
            let raw = cells.get(i).map(AsRef::as_ref).unwrap_or_default();
            let value = field::number(&self.names[i], raw, None);
            let target = match self.targets.get(&i) {
                Some(&t) => field::number(
                    &self.names[t],
                    cells.get(t).map(AsRef::as_ref).unwrap_or_default(),
                    None,
                ),
                None => Ok(None),
            };
            match (value, target) {
                (Ok(Some(value)), Ok(target)) => records.push(NewOperation {
                    department: department.clone().unwrap_or_default(),
                    order_id: order_id.clone().unwrap_or_default(),
                    measure: measure.clone(),
                    customer_id: customer_id.clone(),
                    occurred_at: occurred.as_ref().map(|(t, _)| t.clone()),
                    occurred_unix: occurred.as_ref().map(|(_, u)| *u),
                    value,
                    target,
                    attributes: attributes.clone(),
                }),
                (Ok(None), Ok(_)) => {}
                (v, t) => errors.extend(v.err().into_iter().chain(t.err())),
            }
        }
        if errors.is_empty() {
            Ok(records)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_days_pair_with_target_days() {
        let cols = OperationColumns::from_header(&[
            "order_id",
            "customer_id",
            "department",
            "delivered_at",
            "delivery_days",
            "target_days",
            "carrier",
        ])
        .unwrap();
        let ops = cols
            .parse_row(&[
                "SO-1",
                "C1",
                "logistics",
                "2026-03-04T10:00:00Z",
                "4.5",
                "5",
                "DHL",
            ])
            .unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].measure, "delivery_days");
        assert_eq!((ops[0].value, ops[0].target), (4.5, Some(5.0)));
        assert_eq!(ops[0].attributes["carrier"], "DHL");
        let e = cols
            .parse_row(&["SO-1", "C1", "", "soon", "fast", "5", ""])
            .unwrap_err();
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn generic_measures_and_missing_measures() {
        let cols = OperationColumns::from_header(&[
            "order_id",
            "department",
            "measure_wait_minutes",
            "target_wait_minutes",
        ])
        .unwrap();
        let ops = cols.parse_row(&["T-9", "support", "12", "10"]).unwrap();
        assert_eq!(
            (ops[0].measure.as_str(), ops[0].target),
            ("wait_minutes", Some(10.0))
        );
        assert!(OperationColumns::from_header(&["order_id", "department", "note"]).is_err());
    }
}
